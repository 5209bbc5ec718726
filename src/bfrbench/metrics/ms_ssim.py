"""MS-SSIM in pyiqa's `ms_ssim` convention (Wang, Simoncelli & Bovik 2003, as pyiqa 0.1.16 computes it by default).

Convention (each step as pyiqa's MS_SSIM with its default options, here in float64 numpy/OpenCV):
- luma Y = 0.299 R + 0.587 G + 0.114 B (YIQ's Y) on [0,255], ROUNDED to integers (pyiqa's MATLAB-style rounding);
- 5 scales, weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); at each scale an 11x11 Gaussian window (sigma 1.5)
  over the valid region, C1=(0.01*255)^2, C2=(0.03*255)^2, the contrast-structure map clamped at 0 (ReLU);
- between scales a 2x2 average pool with stride 2 and, for an odd side, one zero-padded row/column on both ends
  counted in the average (torch avg_pool2d(kernel_size=2, padding=side % 2));
- MS-SSIM = prod_{s<5} mean(cs_s)^w_s * mean(ssim_5)^w_5.
The coarsest scale needs at least 11 px, i.e. the smaller image side must be >= 161 px; smaller images are
undefined for this metric: NaN, left out of the mean and counted (`n_nan`), never a made-up number.
"""

from __future__ import annotations

import numpy as np

from bfrbench.metrics.psnr_ssim import SSIM_C1, SSIM_C2, _gaussian_valid, _PixelMetric

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
YIQ_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
MIN_SIDE = 161


def yiq_luma_rounded(image: np.ndarray) -> np.ndarray:
    """uint8 RGB H x W x 3 -> float64 H x W x 1 rounded YIQ luma on [0,255]."""
    return np.round(image.astype(np.float64) @ YIQ_LUMA)[..., None]


def _pool2(plane: np.ndarray) -> np.ndarray:
    h, w = plane.shape[:2]
    ph, pw = h % 2, w % 2
    padded = np.pad(plane, ((ph, ph), (pw, pw), (0, 0)))
    oh, ow = (h + 2 * ph - 2) // 2 + 1, (w + 2 * pw - 2) // 2 + 1
    blocks = padded[: 2 * oh, : 2 * ow].reshape(oh, 2, ow, 2, -1)
    return blocks.sum(axis=(1, 3)) / 4.0


def _ssim_cs(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    mu_x, mu_y = _gaussian_valid(x), _gaussian_valid(y)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = _gaussian_valid(x * x) - mu_xx
    var_y = _gaussian_valid(y * y) - mu_yy
    cov = _gaussian_valid(x * y) - mu_xy
    cs_map = np.maximum((2 * cov + SSIM_C2) / (var_x + var_y + SSIM_C2), 0.0)
    ssim_map = ((2 * mu_xy + SSIM_C1) / (mu_xx + mu_yy + SSIM_C1)) * cs_map
    return float(ssim_map.mean()), float(cs_map.mean())


def ms_ssim_image(pred: np.ndarray, gt: np.ndarray) -> float:
    """MS-SSIM of one uint8 RGB pair; NaN when the smaller side is below 161 px."""
    if min(pred.shape[:2]) < MIN_SIDE:
        return float("nan")
    x, y = yiq_luma_rounded(pred), yiq_luma_rounded(gt)
    value = 1.0
    for level, weight in enumerate(MS_SSIM_WEIGHTS):
        ssim_val, cs = _ssim_cs(x, y)
        if level < len(MS_SSIM_WEIGHTS) - 1:
            value *= cs**weight
            x, y = _pool2(x), _pool2(y)
        else:
            value *= ssim_val**weight
    return value


class MsSsim(_PixelMetric):
    nan_means_undefined = True  # images smaller than 161 px have no coarsest scale

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        return np.array([ms_ssim_image(p, g) for p, g in zip(pred, gt)], dtype=np.float64)
