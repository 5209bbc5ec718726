"""PSNR and SSIM in the BasicSR convention (basicsr/metrics/psnr_ssim.py), for uint8 RGB batches.

Convention, as in BasicSR's calculate_psnr / calculate_ssim with crop_border=0:
- values are 8-bit intensities on [0, 255] handled in float64;
- "y" variants use BT.601 luma Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 (BasicSR's bgr2ycbcr(y_only=True)
  applied to a [0, 1] image, times 255), NOT rounded to integers. BasicSR computes Y in float32; we use float64,
  which moves PSNR/SSIM by far less than 1e-4 relative (tests/metrics/test_psnr_ssim.py measures it);
- PSNR = 10 log10(255^2 / MSE), MSE over all pixels (and channels); identical images give +inf, kept as inf;
- SSIM: 11x11 Gaussian window (sigma 1.5), statistics on the valid region only (5 pixels lost on each side),
  C1 = (0.01*255)^2, C2 = (0.03*255)^2, no clamping of negative terms, mean of the map per channel then over channels.
  The Gaussian window is the outer product of one 1-D kernel, so it is applied as two 1-D passes (`sepFilter2D`);
  that equals BasicSR's `filter2D` with the 2-D window to ~1e-13.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from bfrbench.errors import unavailable
from bfrbench.metrics.base import Metric

LUMA_WEIGHTS_RGB = np.array([65.481, 128.553, 24.966], dtype=np.float64)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * 255.0) ** 2
SSIM_C2 = (0.03 * 255.0) ** 2


def luma_bt601(batch: np.ndarray) -> np.ndarray:
    """uint8 RGB N x H x W x 3 -> float64 Y on [16, 235], N x H x W x 1 (BasicSR's to_y_channel, unrounded)."""
    rgb01 = batch.astype(np.float64) / 255.0
    return (rgb01 @ LUMA_WEIGHTS_RGB + 16.0)[..., None]


def _planes(batch: np.ndarray, y_only: bool) -> np.ndarray:
    return luma_bt601(batch) if y_only else batch.astype(np.float64)


def psnr_batch(pred: np.ndarray, gt: np.ndarray, y_only: bool = False) -> np.ndarray:
    """Per-image PSNR in dB of uint8 RGB batches; inf where the images (or their luma) are identical."""
    if y_only:
        diff = luma_bt601(pred) - luma_bt601(gt)
        mse = np.mean(diff * diff, axis=(1, 2, 3))
    else:
        # Integer squared errors summed in int64 are exact, so RGB PSNR is exactly reproducible.
        diff = pred.astype(np.int32) - gt.astype(np.int32)
        sq = np.einsum("nhwc,nhwc->n", diff, diff, dtype=np.int64)
        mse = sq.astype(np.float64) / (diff[0].size)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0 * 255.0 / mse)


def _gaussian_valid(planes: np.ndarray) -> np.ndarray:
    """Gaussian-filter H x W x C float64 planes and keep the valid region (H-10) x (W-10) x C."""
    import cv2

    kernel = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA, cv2.CV_64F)
    m = SSIM_WINDOW // 2
    filtered = cv2.sepFilter2D(np.ascontiguousarray(planes), cv2.CV_64F, kernel, kernel)
    return filtered.reshape(planes.shape)[m:-m, m:-m]


def _ssim_image(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of one H x W x C float64 image pair: mean over channels of the mean SSIM map."""
    mu_x = _gaussian_valid(x)
    mu_y = _gaussian_valid(y)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = _gaussian_valid(x * x) - mu_xx
    var_y = _gaussian_valid(y * y) - mu_yy
    cov_xy = _gaussian_valid(x * y) - mu_xy
    ssim_map = ((2 * mu_xy + SSIM_C1) * (2 * cov_xy + SSIM_C2)) / (
        (mu_xx + mu_yy + SSIM_C1) * (var_x + var_y + SSIM_C2))
    per_channel = np.ascontiguousarray(ssim_map.transpose(2, 0, 1)).reshape(ssim_map.shape[2], -1).mean(axis=1)
    return float(per_channel.mean())


def ssim_batch(pred: np.ndarray, gt: np.ndarray, y_only: bool = False) -> np.ndarray:
    """Per-image SSIM of uint8 RGB batches (mean over channels of the per-channel mean SSIM)."""
    h, w = pred.shape[1:3]
    if min(h, w) <= SSIM_WINDOW - 1:
        raise ValueError(f"SSIM needs images larger than {SSIM_WINDOW - 1} px, got {w}x{h}")
    # One image at a time (its channels in one OpenCV call): the value of an image must not depend on which other
    # images share its batch, or a resumed run would differ from an uninterrupted one in the last bits.
    return np.array([_ssim_image(_planes(p[None], y_only)[0], _planes(g[None], y_only)[0]) for p, g in zip(pred, gt)])


class _PixelMetric(Metric):
    y_only: ClassVar[bool]

    def check_available(self) -> str | None:
        try:
            import cv2  # noqa: F401
        except ImportError as exc:
            return unavailable(f"OpenCV does not import ({exc})", "pip install opencv-python-headless==4.14.0.94")
        return None


class PsnrRgb(_PixelMetric):
    y_only = False

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        return psnr_batch(pred, gt, self.y_only)


class PsnrY(PsnrRgb):
    y_only = True


class SsimRgb(_PixelMetric):
    y_only = False

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        return ssim_batch(pred, gt, self.y_only)


class SsimY(SsimRgb):
    y_only = True
