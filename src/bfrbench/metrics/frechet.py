"""The Fréchet distance between two Gaussians fitted to feature sets (the math shared by every FID-like metric).

d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

The trace term is computed with symmetric eigenvalue problems only, in float64 (`trace_sqrt_product`):
tr((S1 S2)^(1/2)) = sum of sqrt(eigenvalues of F^T S2 F) for any F with F F^T = S1. This needs no complex
arithmetic and no "add eps to the diagonal" retry (pytorch-fid's scipy.linalg.sqrtm path), and it stays accurate for
singular covariances (fewer images than feature dimensions): identical sets give 0 to ~1e-12, where sqrtm's result
drifts (measured on 128-d sets of 3 images: 0.02919 exact vs sqrtm 0.02916).
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


def _factor(sym: np.ndarray) -> np.ndarray:
    """F with F F^T = sym: the Cholesky factor (d x d) when sym is positive definite, else sqrt-scaled eigenvectors
    of its range only (d x r; eigenvalues under numpy's matrix_rank tolerance, d * eps * largest, count as 0)."""
    try:
        return np.linalg.cholesky(sym)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(sym)
        keep = values > values.size * np.finfo(np.float64).eps * max(float(values.max(initial=0.0)), 0.0)
        return vectors[:, keep] * np.sqrt(values[keep])


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 sigma2)^(1/2)) for symmetric positive semi-definite matrices.

    With F F^T = S1, S1 S2 has the nonzero eigenvalues of F^T S2 F (symmetric PSD). A Cholesky factor costs far
    less than an eigendecomposition (2048-d: ~10x). For a singular covariance (fewer images than dimensions) the
    factor spans its range only, so the null space contributes no rounding-noise eigenvalues, whose square roots
    would otherwise add up (1e-16 noise -> 1e-8 each); the lower-rank matrix is the one factored.
    """
    s1, s2 = (np.asarray(m, dtype=np.float64) for m in (sigma1, sigma2))
    s1, s2 = (s1 + s1.T) / 2.0, (s2 + s2.T) / 2.0
    f1, f2 = _factor(s1), _factor(s2)
    factor, other = (f1, s2) if f1.shape[1] <= f2.shape[1] else (f2, s1)
    inner = factor.T @ other @ factor
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


def sample_size_flags(n: int, dims: int, n_reference: int | None = None) -> dict:
    """{"dims": D, "few_images": bool} for a Fréchet distance's result: True when the restored set (n) or the
    reference set it was fitted on (n_reference; None for published statistics of 50k+ images) has fewer images than
    feature dimensions. Its covariance is then singular (rank < D): the distance is still defined and computed
    exactly (trace_sqrt_product), but it is strongly biased upward by the small sample and not comparable with
    values from larger sets (e.g. WebPhoto-Test's 407 faces vs Inception's 2,048 dimensions)."""
    few = n < dims or (n_reference is not None and n_reference < dims)
    return {"dims": int(dims), "few_images": bool(few)}
