"""The metric interface every metric implements, and the shared aggregation rules.

Per-image metrics take uint8 RGB batches N x H x W x 3 (prediction, and ground truth for full-reference metrics) and
return N float64 values. Set-level metrics (FID and friends) cannot be scored image by image: they subclass
`bfrbench.metrics.feature_set.FeatureSetMetric` (per-image features, kept for resume, then one value for the set).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from bfrbench.errors import BFRBenchError
from bfrbench.metrics.spec import MetricSpec


class Metric:
    """A per-image metric described by `spec`.

    `nan_means_undefined`: a subclass sets it to True only if it documents NaN as "undefined for this image" (e.g. no
    face found); NaNs are then left out of the mean and counted. Otherwise a NaN is a bug and aggregation raises.
    """

    nan_means_undefined: ClassVar[bool] = False

    def __init__(self, spec: MetricSpec):
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    def check_available(self) -> str | None:
        """None if the metric can run here, else `unavailable(why, command)`."""
        return None

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def score_stems(self, stems: list[str], pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        """What the scoring engine calls: the batch with its images' file stems. Only a metric that reads a third
        image per stem (ids_arcface_r18_lq: the LQ input) needs them; every other metric scores the arrays."""
        return self.score_batch(pred, gt)

    def settings(self) -> dict:
        """Options that change the values (part of the engine's resume check and of the summary); {} for none."""
        return {}

    def aggregate(self, values) -> float:
        return self.summarize(values)["value"]

    def summarize(self, values) -> dict:
        """{"value": mean, "n": count averaged} plus "n_nan"/"n_inf" when there are any.

        Infinite values (PSNR of identical images) are kept, as BasicSR does, so the mean is then inf; "n_inf" and
        "mean_finite" make that explicit instead of hiding it behind a cap.
        """
        values = np.asarray(values, dtype=np.float64).ravel()
        nan = np.isnan(values)
        if nan.any() and not self.nan_means_undefined:
            raise ValueError(f"metric '{self.name}' produced NaN for {int(nan.sum())} image(s); this is a bug")
        kept = values[~nan]
        out: dict = {"value": _exact_mean(kept), "n": int(kept.size)}
        if nan.any():
            out["n_nan"] = int(nan.sum())
        inf = np.isinf(kept)
        if inf.any():
            out["n_inf"] = int(inf.sum())
            out["mean_finite"] = _exact_mean(kept[~inf])
        return out

    def check_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> None:
        """Fail loudly on inputs outside the interface contract (a caller bug, not a user error)."""
        _check_rgb_batch(pred, "pred")
        if self.spec.full_reference:
            if gt is None:
                raise BFRBenchError(
                    f"metric '{self.name}' is full-reference and needs ground-truth images",
                    fix="give the ground-truth folder (--gt), or choose no-reference metrics",
                )
            _check_rgb_batch(gt, "gt")
            if gt.shape != pred.shape:
                raise ValueError(f"metric '{self.name}': pred batch {pred.shape} and gt batch {gt.shape} differ")


class SetMetric(Metric):
    """Hook for metrics defined only over a whole set (FID, KID): feed batches, then compute once."""

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, pred: np.ndarray, gt: np.ndarray | None) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        raise TypeError(f"'{self.name}' is a set-level metric: use update()/compute(), not score_batch()")


def _check_rgb_batch(batch: np.ndarray, what: str) -> None:
    if not isinstance(batch, np.ndarray) or batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[3] != 3:
        got = f"{batch.dtype} {batch.shape}" if isinstance(batch, np.ndarray) else type(batch).__name__
        raise ValueError(f"{what} must be a uint8 RGB batch N x H x W x 3, got {got}")


def _exact_mean(values: np.ndarray) -> float:
    # fsum is correctly rounded, so the mean does not depend on the order images were scored in (resume, batching).
    if values.size == 0:
        return math.nan
    return math.fsum(values.tolist()) / values.size
