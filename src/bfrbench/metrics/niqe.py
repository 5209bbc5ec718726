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
Precision follows BasicSR: float32 image, coefficients and block statistics, so the rounded-integer first scale is
bit-identical to BasicSR's (an all-float64 version differs from BasicSR by ~0.5-2%, measured on skimage astronaut).
The second scale is where NIQE is fragile: its float32 local variance E[x^2] - mu^2 cancels (absolute error ~7e-3
where the variance is < 0.05) and, in flat areas, decides whether a coefficient is exactly 0, which the AGGD fit
leaves out of both its left and right sets. One float32 ulp on ONE pixel of the x0.5 image moves the score by up to
1.7e-3 (relative), +-1 ulp on half the pixels by up to 4.7e-3. BasicSR makes that image with float32 torch `mv`,
i.e. the CPU's BLAS sgemv, which is 1-5 ulp off the correctly rounded value in a kernel-dependent way (MKL's AMD
path vs MKL_CBWR=AVX2 give different bits), so BasicSR's own NIQE depends on the CPU. Here the resize is a float64
sum over each output's taps in a fixed order (`matlab_resize`, no BLAS), stored as float32: the same bits on every
CPU, and equal to what BasicSR's imresize algorithm gives when run in float64. The float64 tail (covariance of the
36 features, pinv of a matrix of condition ~1e5-4e5) moves the score by < 1e-13 between BLAS kernels.
tests/metrics/test_niqe.py runs BasicSR's calculate_niqe from its sdist with its imresize in float64 (agreement
<= 7e-15) and checks the float32 imresize itself to its rounding bound; against stock BasicSR the gap is that
resize's rounding noise (<= 9.7e-4 measured on AMD EPYC).
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


def _resize_taps(n_in: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Input indices and weights (both n_out x taps) of MATLAB's bicubic imresize along one axis (antialiased when
    shrinking, symmetric edges); a folded edge may repeat an index within a row."""
    n_out = math.ceil(n_in * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, n_out + 1) / scale + 0.5 * (1 - 1 / scale)  # output centres in 1-based input coordinates
    taps = np.floor(u - width / 2)[:, None] + np.arange(math.ceil(width) + 2)[None, :]
    w = scale * _cubic(scale * (u[:, None] - taps)) if scale < 1 else _cubic(u[:, None] - taps)
    w /= w.sum(axis=1, keepdims=True)
    idx = (taps.astype(np.int64) - 1) % (2 * n_in)  # MATLAB's symmetric edge: [1..n, n..1] repeated
    return np.where(idx < n_in, idx, 2 * n_in - 1 - idx), w


def matlab_resize_matrix(n_in: int, scale: float) -> np.ndarray:
    """The (ceil(n_in*scale) x n_in) matrix of MATLAB's bicubic imresize along one axis (antialiased when shrinking)."""
    idx, w = _resize_taps(n_in, scale)
    matrix = np.zeros((idx.shape[0], n_in))
    np.add.at(matrix, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.ravel()), w.ravel())
    return matrix


def matlab_resize(x: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB `imresize(x, scale)` (bicubic, antialiased, symmetric edges) of a 2-D image, in float64.

    Rows first, then columns (as MATLAB and BasicSR). Each output is a weighted sum over its taps accumulated in a
    fixed order with plain float64 operations, not a BLAS product, so the value (and the float32 it is stored as)
    is the same bits on every CPU: one ulp on one pixel of it can move NIQE by 1.7e-3 (see the module doc).
    """
    out = np.asarray(x, dtype=np.float64)
    for axis in (0, 1):
        idx, w = _resize_taps(out.shape[axis], scale)
        shape = (-1, 1) if axis == 0 else (1, -1)
        acc = w[:, 0].reshape(shape) * np.take(out, idx[:, 0], axis=axis)
        for t in range(1, idx.shape[1]):
            acc += w[:, t].reshape(shape) * np.take(out, idx[:, t], axis=axis)
        out = acc
    return out


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
        blocks = [coeff[i * b : (i + 1) * b, j * b : (j + 1) * b] for j in range(nw) for i in range(nh)]
        feats.append([block_features(block) for block in blocks])
        if scale == 1:
            img = matlab_resize(img / 255.0, 0.5).astype(np.float32) * 255.0  # float64 sum, stored as float32
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
