"""Kernel Inception Distance's estimator on any feature sets: the unbiased MMD^2 with the cubic polynomial kernel.

Bińkowski et al. (ICLR 2018), as torchmetrics' `poly_mmd` and clean-fid compute it: k(x, y) = (x.y / d + 1)^3. Two
choices of ours, each deterministic: the whole sets are compared at once (clean-fid and torchmetrics average 100
random subsets of up to 1,000 images; with sets below that size a subset is the whole smaller set), and sets of
different sizes use the general unbiased estimator (torchmetrics' formula assumes one size m for both; with equal
sizes the two are the same number, tests/metrics/test_kid_dlib.py). Float64 throughout."""

from __future__ import annotations

import numpy as np


def polynomial_kernel(a: np.ndarray, b: np.ndarray, degree: int = 3, coef: float = 1.0) -> np.ndarray:
    return (a @ b.T / a.shape[1] + coef) ** degree


def kernel_distance(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0) -> float:
    """Unbiased MMD^2 between the rows of x (m x d) and of y (n x d); can be slightly negative for close sets."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need two sets of at least 2 rows of one width, got {x.shape} and {y.shape}")
    k_xx, k_yy = polynomial_kernel(x, x, degree, coef), polynomial_kernel(y, y, degree, coef)
    k_xy = polynomial_kernel(x, y, degree, coef)
    xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(xx + yy - 2 * k_xy.mean())
