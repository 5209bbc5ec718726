"""KID beside the suite's FIDs: `kid_gt` (vs the ground-truth set, beside fid_gt) and `kid_folder` (vs a reference
folder, beside fid_folder), on the SAME Inception pool3 features those FIDs use (pytorch-fid's network and input
convention; bfrbench.metrics.inception), never torch-fidelity's re-implementation that torchmetrics' default
`KernelInceptionDistance` runs.

Estimator (Bińkowski et al. 2018; torchmetrics' `poly_mmd`, clean-fid's `kernel_distance`): unbiased MMD^2 with the
cubic polynomial kernel k(x, y) = (x.y / 2048 + 1)^3, float64, reported as is (papers often print KID x 1000).

Subsets, decided: torchmetrics and clean-fid average the estimator over 100 random subsets of 1,000 images drawn from
each set (torchmetrics refuses sets under 1,000: most BFR test sets); bfrbench computes the estimator ONCE on the whole
sets. That is the expectation of their subset average: the subset estimator's two within-set terms are averages over
distinct pairs and its cross term an average over all pairs, whose expectations over uniformly drawn subsets are the
same averages over the whole sets (checked exactly by enumerating every subset pair in
tests/metrics/test_kid_inception.py). So the value is deterministic, defined for any set of >= 2 images, and what their
number converges to; the subset standard deviation they print has no counterpart. Sets of unequal size use the
general unbiased estimator (`bfrbench.metrics.kid.kernel_distance`'s formula), summed in fixed blocks here so that a
70,000-image reference folder never needs its 70,000^2 kernel matrix in memory.

No `kid_ffhq512` / `kid_clean`: the published FFHQ references behind fid_ffhq512 (BasicSR's
inception_FFHQ_512-f7b384ab.pth) and fid_clean (ffhq_clean_trainval70k_512.npz) hold only a mean and a covariance,
and KID needs every reference image's features. For KID against FFHQ, give the FFHQ images to `kid_folder`.
"""

from __future__ import annotations

import numpy as np

from bfrbench.metrics.fid import FidGt
from bfrbench.metrics.fid_folder import FidFolder

BLOCK = 2048


def _kernel_sum(a: np.ndarray, b: np.ndarray, degree: int, coef: float, block: int) -> float:
    """Sum of (a_i . b_j / d + coef)^degree over all i, j, accumulated block by block in a fixed order."""
    d = a.shape[1]
    total = 0.0
    for i in range(0, len(a), block):
        for j in range(0, len(b), block):
            total += float(((a[i : i + block] @ b[j : j + block].T / d + coef) ** degree).sum())
    return total


def _self_kernel_sum(a: np.ndarray, degree: int, coef: float, block: int) -> float:
    """Sum of the kernel over distinct pairs i != j of a: each off-diagonal block once, doubled (symmetry)."""
    d = a.shape[1]
    total = 0.0
    for i in range(0, len(a), block):
        rows = a[i : i + block]
        k = (rows @ rows.T / d + coef) ** degree
        total += float(k.sum() - np.trace(k))
        for j in range(i + block, len(a), block):
            total += 2.0 * float(((rows @ a[j : j + block].T / d + coef) ** degree).sum())
    return total


def kernel_distance_blocked(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0,
                            block: int = BLOCK) -> float:
    """Unbiased MMD^2 between the rows of x (m x d) and y (n x d), float64, in blocks of `block` rows; equal to
    `bfrbench.metrics.kid.kernel_distance` up to summation order."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2 or x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need two sets of at least 2 rows of one width, got {x.shape} and {y.shape}")
    xx = _self_kernel_sum(x, degree, coef, block) / (m * (m - 1))
    yy = _self_kernel_sum(y, degree, coef, block) / (n * (n - 1))
    xy = _kernel_sum(x, y, degree, coef, block) / (m * n)
    return float(xx + yy - 2.0 * xy)


class KidGt(FidGt):
    """KID of the restored set vs the ground-truth set: fid_gt's features, the KID estimator on whole sets."""

    def compute_from_features(self, features: dict[str, np.ndarray]) -> dict:
        pred, gt = features["pred"], features["gt"]
        return {"value": kernel_distance_blocked(pred, gt), "n": len(pred), "n_reference": len(gt)}


class KidFolder(FidFolder):
    """KID of the restored set vs a reference folder (option `reference_dir`): fid_folder's features and cache."""

    def compute_from_features(self, features: dict[str, np.ndarray]) -> dict:
        pred = features["pred"]
        value = kernel_distance_blocked(pred, self.reference_features())
        return {"value": value, "n": len(pred), **self.reference.record()}
