"""The naive synthetic degradation of `degradation.py`, batched in torch so it can run on the GPU.

`degrade_batch(hq, params)` takes an (N,3,H,W) float batch in [0,1] on any device and one `DegradationParams` per
sample, and follows the CPU path's order exactly: blur -> bilinear down -> noise (clip) -> JPEG -> bilinear up ->
colour shift -> gray -> round to 8-bit levels. With the defaults (noise from numpy, JPEG through OpenCV) it matches
`apply_degradation` to within float rounding; docs/degradation_torch.md has the measured differences.

Choices, and why:
- Blur by FFT rather than a grouped 41x41 conv2d: the conv costs 1681 multiply-adds per pixel and channel on any
  device, the FFT a few dozen; on this machine's CPU (float32) the FFT is 8x faster at 128 px, 11x at 512 px.
  By default the FFT runs in float64 and is rounded once to float32: cv2.filter2D's result is within half an ulp
  of the exact correlation, and a float32 FFT (~3e-7 off) flips a few 8-bit levels before the JPEG step, which
  JPEG can amplify to several levels in a block. `blur="fft32"` trades that for speed on GPUs with slow float64.
- Resizing reimplements what cv2.resize INTER_LINEAR returns for float32 (IPP's positions and fused multiply-add,
  borders clamped) instead of calling F.interpolate, whose float32 positions drift by up to ~2e-5 for non-integer
  ratios (e.g. 142 -> 13).
- Samples whose downsampled size differs are processed in groups of equal size; blur and everything after the
  up-resize are batched over the whole batch.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from bfrbench.data.blur_resize import linear_taps
from bfrbench.data.degradation import DegradationParams

JPEG_MODES = ("cpu", "diff", "none")
NOISE_MODES = ("numpy", "fast", "torch")
BLUR_MODES = ("fft64", "fft32", "conv")

# cv2.COLOR_RGB2GRAY's coefficients (ITU-R BT.601), applied in float32 like OpenCV does for float images.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def round_straight_through(x: torch.Tensor) -> torch.Tensor:
    """torch.round (half-to-even, as numpy) with a straight-through gradient.

    The forward value is exactly round(x): round(x) - x is exact (Sterbenz), so adding x back gives round(x).
    """
    return x + (torch.round(x) - x).detach()


# --- blur -------------------------------------------------------------------------------------------------------


def gaussian_kernels(params: Sequence[DegradationParams], size: int | None = None) -> torch.Tensor:
    """(N, size, size) float64 kernels on the CPU, the formula of `degradation.gaussian_kernel` batched.

    Built in float64 on the CPU (some devices have no float64) and cast by the caller, as the CPU path does.
    A kernel smaller than `size` is zero-padded around its centre, which filters exactly as the smaller kernel.
    """
    size = size or max(p.kernel_size for p in params)
    kernels = torch.zeros(len(params), size, size, dtype=torch.float64)
    for k in sorted({p.kernel_size for p in params}):
        idx = [i for i, p in enumerate(params) if p.kernel_size == k]
        half = k // 2
        ax = torch.arange(-half, half + 1, dtype=torch.float64)
        yy, xx = torch.meshgrid(ax, ax, indexing="ij")  # xx varies along columns, as np.meshgrid's default
        grid = torch.stack([xx, yy], dim=-1)
        theta = torch.tensor([params[i].theta for i in idx], dtype=torch.float64)
        c, s = torch.cos(theta), torch.sin(theta)
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (n, 2, 2)
        var = torch.tensor([[params[i].sigma_x ** 2, params[i].sigma_y ** 2] for i in idx], dtype=torch.float64)
        cov = rot @ torch.diag_embed(var) @ rot.transpose(-1, -2)
        inv = torch.linalg.inv(cov)
        expo = torch.einsum("hwi,nij,hwj->nhw", grid, inv, grid)
        kern = torch.exp(-0.5 * expo)
        kern = kern / kern.sum(dim=(-2, -1), keepdim=True)
        off = (size - k) // 2
        kernels[idx, off:off + k, off:off + k] = kern
    return kernels


def reflect101_indices(n: int, pad: int) -> torch.Tensor:
    """Source indices of cv2.BORDER_REFLECT_101 padding (gfedcb|abcdefgh|gfedcba), for any pad, even pad >= n."""
    idx = torch.arange(-pad, n + pad)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - idx, idx)


def reflect101_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two dims as OpenCV's BORDER_REFLECT_101, for any pad.

    F.pad(mode='reflect') is the same padding (and faster) but only for pad < size; smaller images take indices.
    """
    h, w = x.shape[-2:]
    if pad < min(h, w):
        return F.pad(x, (pad, pad, pad, pad), mode="reflect")
    x = x.index_select(-2, reflect101_indices(h, pad).to(x.device))
    return x.index_select(-1, reflect101_indices(w, pad).to(x.device))


def _has_float64(device: torch.device) -> bool:
    return device.type != "mps"


def _fast_fft_len(n: int) -> int:
    """Smallest m >= n whose only prime factors are 2, 3, 5, 7 (fast for pocketfft and cuFFT)."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5, 7):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def blur_batch(x: torch.Tensor, params: Sequence[DegradationParams], method: str = "fft64") -> torch.Tensor:
    """Filter each sample with its own Gaussian kernel (cross-correlation, reflect-101 borders), like cv2.filter2D.

    The kernel is cast to float32 first, as the CPU path does. method: "fft64" computes in float64 and rounds once
    to float32, which is what cv2.filter2D returns (it is within half an ulp of the exact correlation); "fft32"
    stays in float32 (~3e-7 off, for GPUs with slow float64; MPS has none); "conv" is the direct grouped conv2d in
    float32 (~2e-6 off, 10x slower than the FFT on a CPU, and TF32 on CUDA if cudnn allows it), a cross-check.
    """
    if method not in BLUR_MODES:
        raise ValueError(f"blur must be one of {BLUR_MODES}, got {method!r}")
    if method == "fft64" and not _has_float64(x.device):
        raise ValueError(f"blur='fft64' needs float64, which {x.device.type} lacks; use blur='fft32'")
    n, c, h, w = x.shape
    kernels = gaussian_kernels(params).to(torch.float32).to(x.device)
    size = kernels.shape[-1]
    work_dtype = torch.float64 if method == "fft64" else torch.float32
    padded = reflect101_pad(x, size // 2).to(work_dtype)
    kernels = kernels.to(work_dtype)
    if method == "conv":
        weight = kernels.repeat_interleave(c, dim=0).unsqueeze(1)  # (n*c, 1, k, k), one group per channel
        out = F.conv2d(padded.reshape(1, n * c, *padded.shape[-2:]), weight, groups=n * c)
        return out.reshape(n, c, h, w).to(x.dtype)
    # Circular correlation at a size >= the padded image: the first (h, w) outputs never wrap around, so they are
    # the linear correlation over the reflect-101 padding. Zero-padding further to a fast length changes nothing.
    fh, fw = _fast_fft_len(padded.shape[-2]), _fast_fft_len(padded.shape[-1])
    spec_img = torch.fft.rfft2(padded, s=(fh, fw))
    spec_ker = torch.fft.rfft2(kernels, s=(fh, fw)).unsqueeze(1)
    out = torch.fft.irfft2(spec_img * spec_ker.conj(), s=(fh, fw))
    return out[..., :h, :w].to(x.dtype).contiguous()


# --- resize -----------------------------------------------------------------------------------------------------


def degraded_size(h: int, w: int, scale: float) -> tuple[int, int]:
    """(height, width) after bilinear down by `scale`, as the CPU path: int(w // s), at least 1."""
    return max(1, int(h // scale)), max(1, int(w // scale))


def _linear_taps(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """cv2 INTER_LINEAR taps along one axis: (index0, index1, weight1), weight float32.

    scale = 1 / (out/in) and the source position (d + 0.5) * scale - 0.5 in float64, as OpenCV's resize.cpp. For
    float32 images OpenCV hands the work to IPP, which keeps the fractional part in float64 until it becomes the
    float32 weight (resize.cpp's own float32 position would be off by up to ~4e-6 px; that is not what cv2.resize
    returns). A position left of the first or right of the last source sample takes that sample whole.
    """
    first, second, frac = linear_taps(n_in, n_out)
    return torch.from_numpy(first), torch.from_numpy(second), torch.from_numpy(frac)


def _fused_multiply_add(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """a * b + c with one rounding, as the FMA instruction IPP uses (torch has no fma op).

    In float64 the float32 product is exact, so only the sum is rounded: twice (float64, then float32), which
    differs from a true FMA only if the float64 sum lands exactly halfway between two float32 values.
    Devices without float64 (MPS) fall back to addcmul, which fuses on some backends and not on others.
    """
    if not _has_float64(a.device):
        return torch.addcmul(c, a, b)
    return (a.double() * b.double() + c.double()).to(a.dtype)


def _resize_axis(x: torch.Tensor, n_out: int, dim: int) -> torch.Tensor:
    n_in = x.shape[dim]
    if n_in == n_out:
        return x  # cv2.resize copies when the size is unchanged
    i0, i1, w1 = (t.to(x.device) for t in _linear_taps(n_in, n_out))
    shape = [1] * x.dim()
    shape[dim] = n_out
    near, far = x.index_select(dim, i0), x.index_select(dim, i1)
    return _fused_multiply_add(far - near, w1.to(x.dtype).view(shape), near)


def resize_bilinear_cv2(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (..., h, w) float32 to `size` = (height, width) exactly as cv2.resize INTER_LINEAR on float32.

    No antialiasing (align_corners=False, antialias=False in F.interpolate's terms; F.interpolate itself computes
    positions in float32 and drifts by up to ~2e-5 for non-integer ratios). Per axis, horizontal first, each
    output is fma(far - near, w1, near): IPP's arithmetic, which is what OpenCV runs for float32 images.
    """
    return _resize_axis(_resize_axis(x, size[1], -1), size[0], -2)


# --- noise ------------------------------------------------------------------------------------------------------


def gaussian_noise(params: Sequence[DegradationParams], shape: tuple[int, int, int], device: torch.device,
                   mode: str = "numpy") -> torch.Tensor:
    """(n, c, h, w) float32 noise in [0,1] units, sigma = noise_sigma / 255, one sample per params entry.

    mode="numpy": the exact CPU path's values (`degradation.standard_noise`: numpy, drawn HWC on the CPU, moved).
    mode="fast": the fast CPU path's values (`degradation.fast_noise`, `fast_blur=True`: torch's CPU generator,
    drawn HWC on the CPU, moved), what `data.degrade_on: gpu` uses with `data.fast_blur: true`.
    mode="torch": drawn on the device from a torch.Generator seeded with noise_seed. Faster on a GPU and still a
    function of the params alone, but NOT a CPU path's values: results are then not bit-comparable to it.
    """
    from bfrbench.data.degradation import fast_noise, standard_noise

    c, h, w = shape
    if mode in ("numpy", "fast"):
        draw = standard_noise if mode == "numpy" else fast_noise
        draws = [draw(p.noise_seed, (h, w, c)) * np.float32(p.noise_sigma / 255.0) for p in params]
        return torch.from_numpy(np.stack(draws).transpose(0, 3, 1, 2)).to(device)
    if mode == "torch":
        draws = []
        for p in params:
            gen = torch.Generator(device=device).manual_seed(p.noise_seed)
            draws.append(torch.randn((c, h, w), generator=gen, device=device) * (p.noise_sigma / 255.0))
        return torch.stack(draws)
    raise ValueError(f"noise must be one of {NOISE_MODES}, got {mode!r}")


# --- JPEG -------------------------------------------------------------------------------------------------------


def jpeg_cv2(x: torch.Tensor, qualities: Sequence[int]) -> torch.Tensor:
    """Round-trip each sample through OpenCV's JPEG codec on the CPU (exactly the CPU path); no gradient.

    Input is rounded to 8 bit first, as the CPU path does before cv2.imencode; output is the decoded 8-bit levels.
    """
    import cv2

    levels = torch.round(x.detach() * 255.0).clamp(0, 255).to(torch.uint8).cpu().numpy()
    out = []
    for img, q in zip(levels, qualities):
        bgr = np.ascontiguousarray(img.transpose(1, 2, 0)[:, :, ::-1])
        ok, buf = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(q)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].transpose(2, 0, 1))
    decoded = torch.from_numpy(np.ascontiguousarray(np.stack(out))).to(x.device)
    return decoded.to(x.dtype) / 255.0


# JPEG spec Annex K.1 tables in natural (row-major) order, as libjpeg's jcparam.c.
_LUMA_QTABLE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)
_CHROMA_QTABLE = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
)


def jpeg_quant_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """libjpeg's jpeg_set_quality tables (luma, chroma), 8x8 ints, baseline-clamped to [1, 255]."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    tables = []
    for base in (_LUMA_QTABLE, _CHROMA_QTABLE):
        t = (np.asarray(base, dtype=np.int64) * scale + 50) // 100
        tables.append(np.clip(t, 1, 255).reshape(8, 8))
    return tables[0], tables[1]


def _dct_matrix(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Orthonormal 8-point DCT-II; JPEG's 2-D DCT (1/4 C(u) C(v) sum ...) is exactly its separable product."""
    k = torch.arange(8, dtype=torch.float64)
    m = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    m[0] /= math.sqrt(2)
    return m.to(device=device, dtype=dtype)


def _quantise_blocks(plane: torch.Tensor, qtable: torch.Tensor) -> torch.Tensor:
    """(n, c, h, w) level-shifted samples, h and w multiples of 8 -> the same after DCT, quantise, dequantise, IDCT.

    `qtable` is (n, 1, 1, 1, 8, 8): one table per sample. The DCTs run in float64 where the device has it: in
    float32 a CUDA matmul may run as TF32 (10-bit mantissa), which would move DC coefficients by ~0.5.
    """
    n, c, h, w = plane.shape
    work = torch.float64 if _has_float64(plane.device) else torch.float32
    dct = _dct_matrix(plane.device, work)
    blocks = plane.to(work).reshape(n, c, h // 8, 8, w // 8, 8).transpose(3, 4)  # (n, c, bh, bw, 8, 8)
    coeff = dct @ blocks @ dct.T
    coeff = round_straight_through(coeff / qtable) * qtable
    blocks = dct.T @ coeff @ dct
    return blocks.transpose(3, 4).reshape(n, c, h, w).to(plane.dtype)


def differentiable_jpeg_approx(x: torch.Tensor, quality: int | Sequence[int]) -> torch.Tensor:
    """A differentiable APPROXIMATION of baseline JPEG (libjpeg's default settings); not libjpeg itself.

    x: (n, 3, h, w) RGB in [0,1]; quality: one int or one per sample. Steps: 8-bit RGB -> YCbCr (JFIF) -> chroma
    4:2:0 by 2x2 mean -> edge-replicate to whole blocks -> level shift, 8x8 orthonormal DCT, divide by the libjpeg
    quality-scaled Annex K tables, round, multiply back, IDCT -> chroma up by the triangle ("fancy") filter, i.e.
    bilinear x2 -> RGB, 8-bit levels. Every rounding is straight-through (identity gradient) and clamps pass the
    gradient inside their range, so gradients reach `x`. It differs from the real codec in its float DCT (libjpeg
    uses integer islow), its rounding of ties and biases, and chroma edge handling; docs/degradation_torch.md
    gives the measured gap.
    """
    n, _, h, w = x.shape
    qualities = [int(quality)] * n if isinstance(quality, (int, np.integer)) else [int(q) for q in quality]
    if len(qualities) != n:
        raise ValueError(f"{len(qualities)} qualities for a batch of {n}")
    device = x.device
    rgb = round_straight_through(x.clamp(0, 1) * 255.0)
    r, g, b = rgb.unbind(1)
    y = round_straight_through(0.299 * r + 0.587 * g + 0.114 * b)
    cb = round_straight_through(-0.168736 * r - 0.331264 * g + 0.5 * b + 128.0)
    cr = round_straight_through(0.5 * r - 0.418688 * g - 0.081312 * b + 128.0)
    # libjpeg fills partial MCUs (16x16 at 4:2:0) by repeating the last column and row.
    ph, pw = -h % 16, -w % 16
    luma = F.pad(y[:, None], (0, pw, 0, ph), mode="replicate")
    chroma = F.pad(torch.stack([cb, cr], 1), (0, pw, 0, ph), mode="replicate")
    chroma = round_straight_through(F.avg_pool2d(chroma, 2))
    tables = [jpeg_quant_tables(q) for q in qualities]
    luma_q = torch.tensor(np.stack([t[0] for t in tables]), device=device)[:, None, None, None]
    chroma_q = torch.tensor(np.stack([t[1] for t in tables]), device=device)[:, None, None, None]
    luma = round_straight_through(_quantise_blocks(luma - 128.0, luma_q) + 128.0).clamp(0, 255)
    chroma = round_straight_through(_quantise_blocks(chroma - 128.0, chroma_q) + 128.0).clamp(0, 255)
    # The decoder upsamples the chroma plane it holds (ceil(h/2) x ceil(w/2)) with edge replication.
    chroma = chroma[..., : (h + 1) // 2, : (w + 1) // 2]
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)
    chroma = round_straight_through(chroma[..., :h, :w])
    y, cb, cr = luma[:, 0, :h, :w], chroma[:, 0] - 128.0, chroma[:, 1] - 128.0
    rgb = torch.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1)
    return round_straight_through(rgb).clamp(0, 255) / 255.0


# --- the pipeline -----------------------------------------------------------------------------------------------


def to_gray(x: torch.Tensor) -> torch.Tensor:
    """cv2.COLOR_RGB2GRAY on float RGB, repeated to 3 channels."""
    r, g, b = x.unbind(1)
    gray = r * GRAY_WEIGHTS[0] + g * GRAY_WEIGHTS[1] + b * GRAY_WEIGHTS[2]
    return gray[:, None].expand_as(x)


def _low_resolution_stages(x: torch.Tensor, params: Sequence[DegradationParams], jpeg: str,
                           noise: str) -> torch.Tensor:
    """Noise and JPEG on samples that share their downsampled size."""
    noisy = [i for i, p in enumerate(params) if p.noise_sigma > 0]
    if noisy:  # the CPU path neither adds nor clips when sigma is 0
        draws = gaussian_noise([params[i] for i in noisy], tuple(x.shape[1:]), x.device, noise).to(x.dtype)
        rows = torch.tensor(noisy, device=x.device)
        x = x.index_add(0, rows, draws)
        x = x.index_copy(0, rows, x.index_select(0, rows).clamp(0, 1))
    qualities = [p.jpeg_quality for p in params]
    if jpeg == "cpu":
        return jpeg_cv2(x, qualities)
    if jpeg == "diff":
        return differentiable_jpeg_approx(x, qualities)
    return x


def degrade_batch(hq: torch.Tensor, params: Sequence[DegradationParams], jpeg: str = "cpu", noise: str = "numpy",
                  blur: str = "fft64") -> torch.Tensor:
    """Degrade an (N,3,H,W) float RGB batch in [0,1], each sample with its own params; returns (N,3,H,W) in [0,1]
    on 8-bit levels (k / 255), on hq's device, float32.

    jpeg: "cpu"  - the exact OpenCV codec per sample on the CPU (matches `apply_degradation`; blocks gradients).
          "diff" - `differentiable_jpeg_approx`, on the device; an approximation of libjpeg, gradients flow.
          "none" - no JPEG and no 8-bit rounding before the up-resize. Only for ablations: the result is NOT the
                   training degradation of any preset.
    noise: "numpy" (the exact CPU path's values), "fast" (the fast CPU path's) or "torch" (device generator, not
    bit-comparable); see gaussian_noise.
    blur: "fft64" (default, matches cv2.filter2D), "fft32" (faster on consumer GPUs, ~3e-7 off) or "conv";
          see blur_batch.
    """
    if jpeg not in JPEG_MODES:
        raise ValueError(f"jpeg must be one of {JPEG_MODES}, got {jpeg!r}")
    if noise not in NOISE_MODES:
        raise ValueError(f"noise must be one of {NOISE_MODES}, got {noise!r}")
    if hq.dim() != 4 or hq.shape[1] != 3 or not hq.is_floating_point():
        raise ValueError(f"degrade_batch expects a float (N,3,H,W) tensor, got {hq.dtype} {tuple(hq.shape)}")
    params = list(params)
    if len(params) != hq.shape[0]:
        raise ValueError(f"{len(params)} params for a batch of {hq.shape[0]}")
    h, w = hq.shape[-2:]
    if not params:
        return hq.to(torch.float32).clone()
    x = blur_batch(hq.to(torch.float32), params, blur)

    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, p in enumerate(params):
        groups[degraded_size(h, w, p.scale)].append(i)
    order, pieces = [], []
    for size, idx in groups.items():
        rows = torch.tensor(idx, device=x.device)
        small = resize_bilinear_cv2(x.index_select(0, rows), size)
        small = _low_resolution_stages(small, [params[i] for i in idx], jpeg, noise)
        pieces.append(resize_bilinear_cv2(small, (h, w)))
        order.extend(idx)
    x = torch.cat(pieces).index_select(0, torch.tensor(np.argsort(order), device=x.device))

    shifts = [p.color_shift for p in params]
    if any(s is not None for s in shifts):
        shift = torch.tensor([s or (0.0, 0.0, 0.0) for s in shifts], dtype=torch.float32, device=x.device)
        shifted = (x + shift[:, :, None, None]).clamp(0, 1)
        has_shift = torch.tensor([s is not None for s in shifts], device=x.device)[:, None, None, None]
        x = torch.where(has_shift, shifted, x)
    if any(p.gray for p in params):
        is_gray = torch.tensor([p.gray for p in params], device=x.device)[:, None, None, None]
        x = torch.where(is_gray, to_gray(x), x)
    return round_straight_through(x * 255.0).clamp(0, 255) / 255.0
