"""`kid_dlib`: the KID estimator (unbiased MMD^2, cubic polynomial kernel; bfrbench.metrics.kid) on dlib's 128-D
face-recognition descriptors. Real, offline, and NOT KID on Inception features: named for what it is.

Every image is embedded exactly as `frechet_dlib` embeds it (its own 5-point landmarks in the fixed FFHQ face box,
150x150 chip, padding 0.25, no jitter), against the ground-truth set or a reference folder. Unlike a Fréchet
distance it assumes no Gaussian and is unbiased for small sets, which is why realism studies report it beside FID."""

from __future__ import annotations

import numpy as np

from bfrbench.metrics.frechet_dlib import FrechetDlib
from bfrbench.metrics.kid import kernel_distance


class KidDlib(FrechetDlib):
    """Options as frechet_dlib's: `reference_dir`, `model_dir`."""

    def compute_from_features(self, features: dict[str, np.ndarray]) -> dict:
        pred = features["pred"]
        reference = features["gt"] if "gt" in self.feature_kinds else self.reference_features()
        return {
            "value": kernel_distance(pred, reference),
            "n": int(pred.shape[0]),
            "n_reference": int(reference.shape[0]),
            "reference": "ground-truth set" if "gt" in self.feature_kinds else str(self.reference_dir.resolve()),
        }
