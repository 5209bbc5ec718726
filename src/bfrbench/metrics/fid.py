"""FID under the three conventions of the face-restoration literature (they give different numbers; each is named).

- `fid_ffhq512`: restored set vs FFHQ-512 statistics (BasicSR's inception_FFHQ_512-f7b384ab.pth, 50k FFHQ images at
  512 px), features in BasicSR's input convention; what GFPGAN, VQFR and RestoreFormer report.
- `fid_gt`: restored set vs the ground-truth set itself, pytorch-fid's convention (DifFace).
- `fid_clean`: restored set vs FFHQ statistics in clean-fid's "clean" mode (pyiqa's FFHQ file
  ffhq_clean_trainval70k_512.npz), PIL bicubic resize of float channels.
All three use the same network and weights (`bfrbench.metrics.inception`), float64 statistics (mean, unbiased
covariance) and `bfrbench.metrics.frechet.frechet_distance`. Without the weights every output says
"unavailable: ...; run bfrbench weights fetch NAME": never a number from random weights.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from bfrbench.errors import AssetError, unavailable
from bfrbench.metrics.feature_set import FeatureSetMetric
from bfrbench.metrics.frechet import feature_stats, frechet_distance, sample_size_flags
from bfrbench.metrics.gt_cache import Protocol, gt_values
from bfrbench.metrics.inception import (
    FEATURE_DIM,
    inception_features,
    load_fid_inception,
)
from bfrbench.metrics.spec import MetricSpec

INCEPTION_WEIGHTS = "inception_fid"
BASICSR_FFHQ512_STATS = "fid_stats_ffhq512_basicsr"
CLEAN_FFHQ512_STATS = "fid_stats_ffhq512_clean"
INSTALL_COMMAND = "pip install pytorch-fid==0.3.0"
# Entries whose official copy sits in a web folder (no direct file URL): where to get them by hand.
MANUAL_DOWNLOAD = {
    BASICSR_FFHQ512_STATS: "BasicSR's Google Drive folder (linked from BasicSR's own docs/Metrics.md) "
    "https://drive.google.com/drive/folders/13cWIQyHX3iNmZRJ5v8v3kdyrT9RBTAi9",
}


def _numpy_safe_globals() -> list:
    # BasicSR's stats file is a torch pickle of numpy arrays. These are the only globals it may reference, under
    # their numpy-2 and numpy-1 names, so the file loads with weights_only=True (no arbitrary code on load).
    from numpy._core.multiarray import _reconstruct

    allowed = [_reconstruct, (_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype]
    allowed += [getattr(np.dtypes, n) for n in ("Float64DType", "Float32DType") if hasattr(np.dtypes, n)]
    return allowed


def load_basicsr_stats(path) -> tuple[np.ndarray, np.ndarray]:
    """(mean, cov) from a BasicSR FID statistics file (a torch-saved dict with 'mean' and 'cov')."""
    import torch

    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            stats = torch.load(path, map_location="cpu", weights_only=True)
        mean, cov = np.asarray(stats["mean"], np.float64), np.asarray(stats["cov"], np.float64)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a BasicSR stats file"
        raise AssetError(
            f"{path}: not a BasicSR FID statistics file with 'mean' and 'cov' ({type(exc).__name__}: {exc})",
            fix="put the official inception_FFHQ_512-f7b384ab.pth there",
        ) from None
    return _checked(path, mean, cov)


def load_npz_stats(path) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) from a clean-fid/pyiqa statistics file (.npz with 'mu' and 'sigma')."""
    try:
        with np.load(path, allow_pickle=False) as stats:
            mean, cov = np.asarray(stats["mu"], np.float64), np.asarray(stats["sigma"], np.float64)
    except Exception as exc:  # noqa: BLE001
        raise AssetError(
            f"{path}: not a clean-fid statistics file with 'mu' and 'sigma' ({type(exc).__name__}: {exc})",
            fix="put the official ffhq_clean_trainval70k_512.npz there",
        ) from None
    return _checked(path, mean, cov)


def _checked(path, mean, cov):
    if mean.shape != (FEATURE_DIM,) or cov.shape != (FEATURE_DIM, FEATURE_DIM):
        raise AssetError(f"{path}: statistics of shape {mean.shape}/{cov.shape}, expected 2048 and 2048x2048")
    return mean, cov


def _hash_prefix_reason(name: str) -> str | None:
    """Files whose official name embeds the first 8 hex of their sha256 (BasicSR's naming) must match it: this is
    the only integrity check available where no full official sha256 is published."""
    from bfrbench.assets import fetch_command, sha256_file
    from bfrbench.weights import get_asset, weights_path

    asset = get_asset(name)
    stem = asset.filename.rsplit(".", 1)[0]
    prefix = stem.rsplit("-", 1)[-1] if "-" in stem else ""
    if asset.sha256 is not None or len(prefix) != 8:
        return None
    path = weights_path(name)
    got = sha256_file(path)
    if not got.startswith(prefix):
        return unavailable(
            f"{path} is not the official {asset.filename} (its sha256 starts {got[:8]}, the official name says "
            f"{prefix}); delete it", fetch_command(asset)
        )
    return None


class _Fid(FeatureSetMetric):
    convention: ClassVar[str]
    stats_entry: ClassVar[str | None]  # None: the reference is the ground-truth set

    def __init__(self, spec: MetricSpec, device: str = "cpu"):
        super().__init__(spec)
        self.device = device
        self._net = None
        self._stats: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def feature_kinds(self) -> tuple[str, ...]:
        return ("pred",) if self.stats_entry is not None else ("pred", "gt")

    def check_available(self) -> str | None:
        # Weights first: importing torchvision costs seconds per scoring process, wasted when the weights are absent.
        from bfrbench.weights import weights_reason

        for name in (INCEPTION_WEIGHTS, self.stats_entry):
            if name is None:
                continue
            reason = weights_reason(name)
            if reason and name in MANUAL_DOWNLOAD:
                # No direct link exists: say where the file is published, keeping the one reason format.
                why, _, command = reason[len("unavailable: "):].rpartition("; run ")
                reason = unavailable(f"{why} (published only in {MANUAL_DOWNLOAD[name]}: download it by hand into "
                                     "$BFRBENCH_WEIGHTS_DIR)", command)
            reason = reason or _hash_prefix_reason(name)
            if reason:
                return reason
        try:
            import pytorch_fid  # noqa: F401
            import torchvision  # noqa: F401
        except ImportError as exc:
            return unavailable(f"pytorch-fid/torchvision do not import ({exc})", INSTALL_COMMAND)
        if self.stats_entry is not None and self._stats is None:
            from bfrbench.assets import fetch_command
            from bfrbench.weights import get_asset, weights_path

            try:  # a file that is present but is not statistics must not fail the run after all images are read
                self._stats = self.load_stats(weights_path(self.stats_entry))
            except AssetError as exc:
                return unavailable(f"{exc.message}; delete it", fetch_command(get_asset(self.stats_entry)))
        return None

    def _network(self):
        if self._net is None:
            reason = self.check_available()
            if reason:
                raise AssetError(f"metric '{self.name}' {reason}")
            from bfrbench.weights import weights_path

            self._net = load_fid_inception(weights_path(INCEPTION_WEIGHTS), self.device)
        return self._net

    def image_features(self, pred: np.ndarray, gt: np.ndarray | None) -> dict[str, np.ndarray]:
        self.check_batch(pred, gt)
        net = self._network()
        out = {"pred": inception_features(net, pred, self.convention, self.device)}
        if "gt" in self.feature_kinds:  # once per face for every score stage, one face per pass (gt_cache)
            from bfrbench.weights import weights_path

            protocol = Protocol(f"inception/{self.convention}", {"device": str(self.device)},
                                (weights_path(INCEPTION_WEIGHTS),), uses_torch=True)
            out["gt"] = np.stack(gt_values(protocol, gt, lambda i: inception_features(
                net, gt[i : i + 1], self.convention, self.device)[0]))
        return out

    def load_stats(self, path) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def reference_stats(self, features: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if self._stats is None:
            reason = self.check_available()
            if reason:
                raise AssetError(f"metric '{self.name}' {reason}")
        return self._stats

    def reference_count(self, features: dict[str, np.ndarray]) -> int | None:
        """Images behind the reference statistics when this run computes them; None for a published file."""
        return None

    def compute_from_features(self, features: dict[str, np.ndarray]) -> dict:
        mean, cov = self.reference_stats(features)
        n = len(features["pred"])
        return {"value": frechet_distance(*feature_stats(features["pred"]), mean, cov), "n": n,
                **sample_size_flags(n, FEATURE_DIM, self.reference_count(features))}


class FidFfhq512(_Fid):
    convention = "basicsr"
    stats_entry = BASICSR_FFHQ512_STATS

    def load_stats(self, path):
        return load_basicsr_stats(path)


class FidGt(_Fid):
    convention = "pytorch_fid"
    stats_entry = None

    def reference_stats(self, features):
        return feature_stats(features["gt"])

    def reference_count(self, features):
        return len(features["gt"])

    def compute_from_features(self, features: dict[str, np.ndarray]) -> dict:
        return {**super().compute_from_features(features), "n_reference": len(features["gt"])}


class FidClean(_Fid):
    convention = "clean"
    stats_entry = CLEAN_FFHQ512_STATS

    def load_stats(self, path):
        return load_npz_stats(path)
