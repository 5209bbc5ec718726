"""The Fréchet distance between two Gaussians fitted to feature sets (the math shared by every FID-like metric).

d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

The trace term is computed with symmetric eigendecompositions only, in float64: with A = S1^(1/2),
(S1 S2)^(1/2) is similar to (A S2 A)^(1/2), and A S2 A is symmetric positive semi-definite, so
tr((S1 S2)^(1/2)) = sum of sqrt(eigenvalues of A S2 A). This needs no complex arithmetic and no "add eps to the
diagonal" retry (pytorch-fid's scipy.linalg.sqrtm path), and it stays defined for singular covariances (fewer images
than feature dimensions). Tiny negative eigenvalues from rounding are clipped to 0 before the square root.
Statistics follow pytorch-fid / BasicSR: mean over images, `np.cov(rowvar=False)` (unbiased, N-1).
"""

from __future__ import annotations

import numpy as np


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of an N x D feature array in float64, as pytorch-fid computes them."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"need an N x D feature array with N >= 2, got shape {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def _psd_sqrt(sym: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((sym + sym.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 sigma2)^(1/2)) for symmetric positive semi-definite matrices."""
    root1 = _psd_sqrt(np.asarray(sigma1, dtype=np.float64))
    inner = root1 @ np.asarray(sigma2, dtype=np.float64) @ root1
    values = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    return float(np.sqrt(np.clip(values, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (what FID reports), float64."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2))


def frechet_distance_of_features(features1: np.ndarray, features2: np.ndarray) -> float:
    return frechet_distance(*feature_stats(features1), *feature_stats(features2))
