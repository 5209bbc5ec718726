"""Set-level metrics computed from per-image feature vectors (FID and the other Fréchet distances).

Such a metric has no per-image value, but it does have per-image FEATURES, and those are what the scoring engine
keeps: it asks `image_features` once per batch (the same decoded batch every per-image metric sees), stores the vectors
by file stem beside its partial CSV (so an interrupted run resumes to the same value), and calls
`compute_from_features` once at the end with every image's features in stem order.

`feature_kinds` says which images contribute: "pred" (the restored images) and, for metrics that compare with the
ground-truth set (fid_gt, frechet_dlib without a reference folder), "gt".
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from bfrbench.errors import BFRBenchError
from bfrbench.metrics.base import SetMetric, _check_rgb_batch

MIN_IMAGES = 2  # a covariance needs at least two samples


class FeatureSetMetric(SetMetric):
    default_feature_kinds: ClassVar[tuple[str, ...]] = ("pred",)

    def __init__(self, spec):
        super().__init__(spec)
        self.reset()

    @property
    def feature_kinds(self) -> tuple[str, ...]:
        return self.default_feature_kinds

    @property
    def needs_gt(self) -> bool:
        return "gt" in self.feature_kinds

    def settings(self) -> dict:
        """Options that change the value (part of the resume check and of the summary)."""
        return {}

    # --- what a subclass implements ---------------------------------------------------------------------------------

    def image_features(self, pred: np.ndarray, gt: np.ndarray | None) -> dict[str, np.ndarray]:
        """{kind: N x D float array} for a uint8 RGB batch; row i belongs to image i, whatever else is in the batch."""
        raise NotImplementedError

    def compute_from_features(self, features: dict[str, np.ndarray]) -> dict:
        """{"value": float, "n": images, ...} from {kind: N x D} arrays of the whole set (rows in stem order)."""
        raise NotImplementedError

    # --- SetMetric interface (in-memory use outside the engine) -----------------------------------------------------

    def reset(self) -> None:
        self._parts: list[dict[str, np.ndarray]] = []

    def update(self, pred: np.ndarray, gt: np.ndarray | None) -> None:
        self._parts.append(self.image_features(pred, gt))

    def compute(self) -> float:
        if not self._parts:
            raise ValueError(f"metric '{self.name}': compute() before any update()")
        joined = {k: np.concatenate([p[k] for p in self._parts]) for k in self.feature_kinds}
        return self.compute_from_features(joined)["value"]

    def check_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> None:
        _check_rgb_batch(pred, "pred")
        if not self.needs_gt:
            return
        if gt is None:
            raise BFRBenchError(
                f"metric '{self.name}' compares with the ground-truth set and needs ground-truth images",
                fix="give the ground-truth folder (--gt)",
            )
        _check_rgb_batch(gt, "gt")
        if gt.shape[0] != pred.shape[0]:
            raise ValueError(f"metric '{self.name}': pred batch {pred.shape} and gt batch {gt.shape} differ in length")
