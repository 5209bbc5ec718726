"""NIQE (Mittal, Soundararajan, Bovik 2013), MATLAB-equivalent, as BasicSR 1.4.2's calculate_niqe computes it.

Convention (BasicSR calculate_niqe(img, crop_border=0, input_order='HWC', convert_to='y')):
- luma: BasicSR's BT.601 Y of the 8-bit image, computed along BasicSR's float32 path and ROUNDED to integers (BasicSR
  rounds "for consistency with MATLAB"); the Y path is mirrored exactly so the rounding lands on the same integers;
- the image is cropped to whole 96x96 blocks (no overlap, the official recommendation); the block features' covariance
  needs at least two blocks, so smaller images (e.g. 128x128) have no NIQE: NaN, counted as n_nan (BasicSR crashes
  in pinv there);
- per scale: local mean/deviation with the prior's 7x7 Gaussian window (edges replicated), normalised coefficients
  (x - mu) / (sigma + 1); per block 18 features: AGGD fit of the coefficients (shape, mean scale) and of the
  products with the 4 neighbours (right, down, two diagonals; circular shift within the block), shape searched on
  the grid 0.2:0.001:10 as MATLAB does;
- second scale: MATLAB `imresize(x, 0.5)` (bicubic, antialiased, symmetric edges) of the first-scale image;
- score = sqrt((mu_p - mu_d) pinv((S_p + S_d)/2) (mu_p - mu_d)^T), with the pristine model (mu_p, S_p) of the MATLAB
  release, read from `basicsr/metrics/niqe_pris_params.npz` in BasicSR 1.4.2's PyPI sdist (Apache-2.0).
Precision follows BasicSR (float32 image, coefficients and block statistics; the x0.5 resize in float64, stored as
float32). NIQE is precision-sensitive: the AGGD shape is an argmin over a 0.001 grid and a few dozen blocks feed a
36-D covariance, so an all-float64 version differs from BasicSR by ~0.5-2% (measured on skimage astronaut); this one
is within 1e-5 relative of BasicSR's calculate_niqe (tests/metrics/test_niqe.py runs BasicSR from its sdist).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from bfrbench.errors import AssetError, BFRBenchError
from bfrbench.metrics.base import Metric
from bfrbench.metrics.weights_check import missing_reason

BLOCK = 96
PRIOR_ENTRY = "basicsr-1.4.2-sdist"
PRIOR_MEMBER = "basicsr/metrics/niqe_pris_params.npz"
_BGR_LUMA = [24.966, 128.553, 65.481]


@functools.lru_cache(maxsize=1)
def load_prior() -> dict[str, np.ndarray]:
    """mu_pris_param (1 x 36), cov_pris_param (36 x 36), gaussian_window (7 x 7) from the cached, verified sdist."""
    import io

    from bfrbench.reference.basicsr_sdist import read_member

    with np.load(io.BytesIO(read_member(PRIOR_MEMBER, download=False))) as npz:
        return {k: np.array(npz[k], dtype=np.float64) for k in ("mu_pris_param", "cov_pris_param", "gaussian_window")}


def basicsr_luma(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB H x W x 3 -> rounded Y (float64 holding integers), via BasicSR's to_y_channel float32 steps."""
    x = rgb[..., ::-1].astype(np.float32) / 255.0  # BasicSR works on BGR
    y = ((np.dot(x, _BGR_LUMA) + 16.0) / 255.0).astype(np.float32) * np.float32(255.0)
    return np.round(y).astype(np.float64)


@functools.lru_cache(maxsize=1)
def _shape_grid() -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import gamma

    shapes = np.arange(0.2, 10.001, 0.001)
    return shapes, gamma(2 / shapes) ** 2 / (gamma(1 / shapes) * gamma(3 / shapes))


def aggd_fit(x: np.ndarray) -> tuple:
    """Asymmetric generalised Gaussian fit by moment matching: (shape alpha, left scale, right scale).

    Statistics stay in the block's dtype (float32, as BasicSR): the shape is an argmin over a 0.001 grid, so the
    precision of rhat decides ties, and the reference's float32 ties are the ones to reproduce.
    """
    from scipy.special import gamma

    x = x.ravel()
    left = np.sqrt(np.mean(x[x < 0] ** 2))
    right = np.sqrt(np.mean(x[x > 0] ** 2))
    ratio = left / right
    rhat = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
    rhat_norm = (rhat * (ratio**3 + 1) * (ratio + 1)) / ((ratio**2 + 1) ** 2)
    shapes, r_gam = _shape_grid()
    alpha = shapes[np.argmin((r_gam - rhat_norm) ** 2)]
    factor = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * factor, right * factor


def block_features(block: np.ndarray) -> list[float]:
    from scipy.special import gamma

    alpha, bl, br = aggd_fit(block)
    feats = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, bl, br = aggd_fit(block * np.roll(block, shift, axis=(0, 1)))
        feats += [alpha, (br - bl) * gamma(2 / alpha) / gamma(1 / alpha), bl, br]
    return feats


def _cubic(d: np.ndarray) -> np.ndarray:
    a = np.abs(d)
    return np.where(a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1, np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0))


def matlab_resize_matrix(n_in: int, scale: float) -> np.ndarray:
    """The (ceil(n_in*scale) x n_in) matrix of MATLAB's bicubic imresize along one axis (antialiased when shrinking)."""
    n_out = math.ceil(n_in * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, n_out + 1) / scale + 0.5 * (1 - 1 / scale)  # output centres in 1-based input coordinates
    taps = np.floor(u - width / 2)[:, None] + np.arange(math.ceil(width) + 2)[None, :]
    w = scale * _cubic(scale * (u[:, None] - taps)) if scale < 1 else _cubic(u[:, None] - taps)
    w /= w.sum(axis=1, keepdims=True)
    idx = (taps.astype(np.int64) - 1) % (2 * n_in)  # MATLAB's symmetric edge: [1..n, n..1] repeated
    idx = np.where(idx < n_in, idx, 2 * n_in - 1 - idx)
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.repeat(np.arange(n_out), taps.shape[1]), idx.ravel()), w.ravel())
    return matrix


def niqe_luma(y: np.ndarray, prior: dict[str, np.ndarray]) -> float:
    """NIQE of a rounded luma image H x W (float64 on [0, 255])."""
    from scipy.ndimage import convolve

    nh, nw = y.shape[0] // BLOCK, y.shape[1] // BLOCK
    if nh == 0 or nw == 0:
        raise BFRBenchError(
            f"NIQE needs images of at least {BLOCK}x{BLOCK} px, got {y.shape[1]}x{y.shape[0]}",
            fix="score NIQE on full-size restorations (or leave niqe out of --metrics)",
        )
    # float32 from here on, as BasicSR (its calculate_niqe casts to float32 and scipy's convolve keeps the dtype).
    img = y[: nh * BLOCK, : nw * BLOCK].astype(np.float32)
    window = prior["gaussian_window"]
    feats = []
    for scale in (1, 2):
        mu = convolve(img, window, mode="nearest")
        sigma = np.sqrt(np.abs(convolve(np.square(img), window, mode="nearest") - np.square(mu)))
        coeff = (img - mu) / (sigma + 1)
        b = BLOCK // scale
        feats.append([block_features(coeff[i * b : (i + 1) * b, j * b : (j + 1) * b]) for j in range(nw) for i in range(nh)])
        if scale == 1:
            small = matlab_resize_matrix(img.shape[0], 0.5) @ (img / 255.0) @ matlab_resize_matrix(img.shape[1], 0.5).T
            img = small.astype(np.float32) * 255.0
    dist = np.concatenate([np.array(f) for f in feats], axis=1)
    complete = dist[~np.isnan(dist).any(axis=1)]
    if len(complete) < 2:  # no covariance from fewer than two blocks: undefined
        return math.nan
    mu_d = np.nanmean(dist, axis=0)
    cov_d = np.cov(complete, rowvar=False)
    diff = prior["mu_pris_param"].ravel() - mu_d
    return float(np.sqrt(diff @ np.linalg.pinv((prior["cov_pris_param"] + cov_d) / 2) @ diff))


class Niqe(Metric):
    # NIQE needs at least two whole 96x96 blocks: a smaller image scores NaN (left out of the mean and counted as
    # n_nan), never a made-up number and never an abort of the whole scoring run.
    nan_means_undefined = True

    def check_available(self) -> str | None:
        return missing_reason((PRIOR_ENTRY,), what="NIQE prior: BasicSR 1.4.2 sdist")

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        reason = self.check_available()
        if reason:
            raise AssetError(f"metric '{self.name}' {reason}")
        prior = load_prior()
        with np.errstate(divide="ignore", invalid="ignore"):  # blocks without negative/positive values give NaN
            return np.array([niqe_luma(basicsr_luma(img), prior) if _has_block(img) else np.nan for img in pred])


def _has_block(img: np.ndarray) -> bool:
    return (img.shape[0] // BLOCK) * (img.shape[1] // BLOCK) >= 2
