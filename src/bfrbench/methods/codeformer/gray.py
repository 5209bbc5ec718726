"""CodeFormer's handling of gray inputs at inference (the official `inference_codeformer.py` with
`facelib/utils/face_restoration_helper.py` and `facelib/utils/misc.py`, sczhou/CodeFormer@182717a).

The network itself always outputs colour. The official pipeline tests each input face with `is_gray(img, 10)` (the
mean over the three channel pairs of the variance of their difference, on the 8-bit image), and for a gray input
turns the output gray (0.2989 R + 0.5870 G + 0.1140 B) and gives it the input's per-channel mean and standard
deviation (`adain_npy`, with its rescaling when a channel would leave [0, 256)). The official script then writes the
float image with OpenCV, which rounds to the nearest 8-bit value and saturates; so does `gray_like_input`. Our own
code, following those files' arithmetic; on RGB arrays where the official ones are BGR (every step is per channel or
symmetric in the channel order, so the result is the same image). The test is made on the LQ face as the restore
receives it (the paper test sets are 512 px, the size the official script resizes aligned faces to).
"""

from __future__ import annotations

import numpy as np

GRAY_THRESHOLD = 10.0  # the official is_gray(img, threshold=10)


def is_gray(img: np.ndarray, threshold: float = GRAY_THRESHOLD) -> bool:
    if img.ndim == 2 or img.shape[2] == 1:
        return True
    c = img.astype(np.int16)
    pairs = ((c[..., 0] - c[..., 1]).var(), (c[..., 1] - c[..., 2]).var(), (c[..., 2] - c[..., 0]).var())
    return float(sum(pairs) / 3.0) <= threshold


def _mean_std(img: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    flat = img.reshape(-1, img.shape[2])
    return flat.mean(axis=0), np.sqrt(flat.var(axis=0) + eps)


def _adain(content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """content normalised per channel, then given style's mean and std; std reduced where a value would leave the
    8-bit range (as adain_npy)."""
    style_mean, style_std = _mean_std(style.astype(np.float64))
    content_mean, content_std = _mean_std(content)
    normalized = (content - content_mean) / content_std
    result = normalized * style_std + style_mean
    bit_range = 256 if content.max() < 256 else 65536
    lows, highs = result.min(axis=(0, 1)), result.max(axis=(0, 1))
    i_min, i_max = int(np.argmin(lows)), int(np.argmax(highs))
    v_min, v_max = lows[i_min], highs[i_max]
    if v_max > bit_range or v_min < 0:
        mean_min, mean_max = style_mean[i_min], style_mean[i_max]
        ratio = min(mean_min / (mean_min - v_min), (bit_range - 1e-12 - mean_max) / (v_max - mean_max))
        result = normalized * (style_std * ratio) + style_mean
    return result


def gray_like_input(restored: np.ndarray, lq: np.ndarray) -> np.ndarray:
    """The official treatment of a gray input's output: gray, with the input's channel statistics; 8-bit."""
    r, g, b = (restored[..., i].astype(np.float64) for i in range(3))
    gray = 0.2989 * r + 0.5870 * g + 0.1140 * b
    result = _adain(np.repeat(gray[..., None], 3, axis=2), lq)
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)
