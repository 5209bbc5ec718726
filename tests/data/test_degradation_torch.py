"""The batched torch degradation against the CPU path (`apply_degradation`), stage by stage and end to end."""

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bfrbench.data.degradation import (
    PRESETS,
    DegradationPipeline,
    apply_degradation,
    fast_noise,
    gaussian_kernel,
    standard_noise,
)
from bfrbench.data.degradation_torch import (
    blur_batch,
    degrade_batch,
    degraded_size,
    differentiable_jpeg_approx,
    gaussian_kernels,
    gaussian_noise,
    jpeg_cv2,
    jpeg_quant_tables,
    reflect101_pad,
    resize_bilinear_cv2,
)

SAMPLES_PER_PRESET = 16
ULP = 2.0**-24  # half the float32 spacing on [0.5, 1): what a correctly rounded value may differ by


@pytest.fixture(scope="module")
def faces() -> dict[int, np.ndarray]:
    """The astronaut's face from scikit-image (public domain) at 128 and 64 px, as in conftest's real_face."""
    from skimage import data

    crop = data.astronaut()[20:220, 130:330]
    return {s: cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA) for s in (128, 64)}


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div(255.0)


def to_hwc(x: torch.Tensor) -> np.ndarray:
    return x.detach().permute(1, 2, 0).numpy()


def sampled_params(name: str, n: int = SAMPLES_PER_PRESET, seed: int = 5):
    pipe = DegradationPipeline(PRESETS[name], seed)
    return [pipe.params_for(i) for i in range(n)]


def cv2_blur(rgb: np.ndarray, p) -> np.ndarray:
    kernel = gaussian_kernel(p.kernel_size, p.sigma_x, p.sigma_y, p.theta).astype(np.float32)
    return cv2.filter2D(rgb.astype(np.float32) / 255.0, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


# --- stages -----------------------------------------------------------------------------------------------------


def test_kernels_equal_the_numpy_formula():
    params = sampled_params("difface", 32) + [replace(sampled_params("gfpgan", 1)[0], kernel_size=21)]
    kernels = gaussian_kernels(params)
    for k, p in zip(kernels, params):
        ref = gaussian_kernel(p.kernel_size, p.sigma_x, p.sigma_y, p.theta)
        off = (41 - p.kernel_size) // 2
        inner = k[off:off + p.kernel_size, off:off + p.kernel_size].numpy()
        assert np.abs(inner - ref).max() < 1e-15
        assert np.array_equal(inner.astype(np.float32), ref.astype(np.float32))
        outside = k.clone()
        outside[off:off + p.kernel_size, off:off + p.kernel_size] = 0
        assert not outside.any()  # a smaller kernel is zero-padded, so it filters as itself


@pytest.mark.parametrize("n,pad", [(64, 20), (5, 20), (1, 3), (2, 7)])
def test_reflect101_pad_equals_opencv_even_past_the_edge(n, pad):
    img = np.random.default_rng(n).random((n, n + 1, 3), dtype=np.float32)
    ref = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    assert np.array_equal(to_hwc(reflect101_pad(torch.from_numpy(img).permute(2, 0, 1), pad)), ref)


@pytest.mark.parametrize("method,tolerance", [("fft64", ULP), ("fft32", 1e-6), ("conv", 5e-6)])
def test_blur_matches_cv2_filter2d(faces, method, tolerance):
    params = sampled_params("difface", 12)
    for size, face in faces.items():
        out = blur_batch(to_tensor(face)[None].repeat(len(params), 1, 1, 1), params, method)
        worst = max(np.abs(to_hwc(o) - cv2_blur(face, p)).max() for o, p in zip(out, params))
        assert worst <= tolerance, f"{method} at {size} px: max |torch - cv2| = {worst:.2e}"


def test_resize_matches_cv2_and_interpolate_uses_the_same_positions():
    rng = np.random.default_rng(0)
    exact = total = 0
    for n_in, n_out in [(128, 37), (128, 64), (64, 9), (142, 13), (128, 142), (41, 128), (3, 64), (1, 5), (7, 2)]:
        img = rng.random((n_in, n_in + 3, 3), dtype=np.float32)
        out_size = (n_out, max(1, n_out - 1))
        ref = cv2.resize(img, out_size[::-1], interpolation=cv2.INTER_LINEAR).reshape(*out_size, 3)
        ours = to_hwc(resize_bilinear_cv2(torch.from_numpy(img).permute(2, 0, 1)[None], out_size)[0])
        # Same positions, float32 arithmetic: cv2 (IPP) returns ours bit for bit, or within one float32 ulp.
        assert np.abs(ours - ref).max() <= 2 * ULP, (n_in, n_out)
        exact += int(np.array_equal(ours, ref))
        total += 1
        # F.interpolate uses in/out as cv2 does (a half-pixel slip would cost ~1e-1), only in float32 positions.
        torch_ref = F.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None], size=out_size, mode="bilinear",
                                  align_corners=False, antialias=False)
        assert np.abs(to_hwc(torch_ref[0]) - ref).max() < 1e-4
    assert exact >= total - 2


def test_numpy_noise_is_the_cpu_paths_stream():
    p = sampled_params("gfpgan", 1)[0]
    noise = gaussian_noise([p], (3, 10, 7), torch.device("cpu"), "numpy")[0]
    rng = np.random.default_rng(p.noise_seed)
    ref = rng.standard_normal((10, 7, 3), dtype=np.float32) * np.float32(p.noise_sigma / 255.0)
    assert np.array_equal(to_hwc(noise), ref)


def test_fast_noise_is_the_fast_cpu_paths_stream():
    """degrade_on: gpu with fast_blur: true adds the values apply_degradation(fast_blur=True) adds."""
    p = sampled_params("gfpgan", 1)[0]
    noise = gaussian_noise([p], (3, 10, 7), torch.device("cpu"), "fast")[0]
    ref = fast_noise(p.noise_seed, (10, 7, 3)) * np.float32(p.noise_sigma / 255.0)
    assert np.array_equal(to_hwc(noise), ref)
    assert not np.array_equal(ref, standard_noise(p.noise_seed, (10, 7, 3)) * np.float32(
        p.noise_sigma / 255.0)), "a different stream from the exact path's"


def test_torch_noise_is_seeded_per_sample_and_has_the_right_scale():
    params = [replace(p, noise_sigma=12.0) for p in sampled_params("gfpgan", 3)]
    shape, cpu = (3, 64, 64), torch.device("cpu")
    both = gaussian_noise(params, shape, cpu, "torch")
    assert torch.equal(both[1], gaussian_noise(params[1:2], shape, cpu, "torch")[0])
    assert abs(both.std().item() * 255 / 12.0 - 1) < 0.05
    assert not torch.equal(both, gaussian_noise(params, shape, cpu, "numpy"))


def _jpeg_dqt_tables(buf: bytes) -> list[np.ndarray]:
    """The 8-bit quantisation tables of a baseline JPEG, in natural order (the file stores them in zigzag)."""
    zigzag = sorted(((i, j) for i in range(8) for j in range(8)),
                    key=lambda ij: (ij[0] + ij[1], ij[0] if (ij[0] + ij[1]) % 2 else ij[1]))
    tables, pos = [], 2
    while buf[pos] == 0xFF and buf[pos + 1] != 0xDA:
        length = int.from_bytes(buf[pos + 2:pos + 4], "big")
        if buf[pos + 1] == 0xDB:
            body = buf[pos + 4:pos + 2 + length]
            for k in range(0, len(body), 65):
                table = np.zeros((8, 8), dtype=np.int64)
                for (i, j), v in zip(zigzag, body[k + 1:k + 65]):
                    table[i, j] = v
                tables.append(table)
        pos += 2 + length
    return tables


@pytest.mark.parametrize("quality", [1, 10, 30, 49, 50, 51, 75, 95, 100])
def test_quant_tables_are_those_opencv_writes(quality):
    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8), [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    assert ok
    luma, chroma = jpeg_quant_tables(quality)
    written = _jpeg_dqt_tables(bytes(buf))
    assert np.array_equal(written[0], luma) and np.array_equal(written[1], chroma)


def test_cpu_jpeg_is_the_cv2_codec(faces):
    face = faces[64]
    ok, buf = cv2.imencode(".jpg", face[:, :, ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), 41])
    assert ok
    ref = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    out = jpeg_cv2(to_tensor(face)[None], [41])[0]
    assert np.array_equal(np.round(to_hwc(out) * 255).astype(np.uint8), ref)


# --- end to end -------------------------------------------------------------------------------------------------


def _compare_with_cpu_path(face: np.ndarray, params, **kwargs) -> tuple[int, float]:
    """(max difference in 8-bit levels, fraction of values that differ) over all samples."""
    out = degrade_batch(to_tensor(face)[None].repeat(len(params), 1, 1, 1), params, **kwargs)
    ours = np.round(out.permute(0, 2, 3, 1).numpy() * 255).astype(np.int16)
    ref = np.stack([apply_degradation(face, p) for p in params]).astype(np.int16)
    diff = np.abs(ours - ref)
    return int(diff.max()), float((diff > 0).mean())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_matches_the_cpu_path_for_every_preset(faces, name):
    params = sampled_params(name)
    for size, face in faces.items():
        worst, frac = _compare_with_cpu_path(face, params)
        # Measured: 0 levels and 0 differing values for every preset at both sizes (docs/degradation_torch.md);
        # a 1-level gap would be a tie broken by a 1-ulp resize difference.
        assert worst <= 1 and frac < 1e-3, f"{name} at {size} px: max {worst} levels, {frac:.2e} of values differ"


def test_colour_shift_gray_and_tiny_non_square_images_match(faces):
    base = sampled_params("gfpgan", 4)
    params = [replace(base[0], color_shift=(0.05, -0.07, 0.02)), replace(base[1], gray=True),
              replace(base[2], gray=True, color_shift=(-0.06, 0.0, 0.07)), replace(base[3], scale=0.85)]
    for face in (faces[64][:16, :16], faces[128][10:58, :80]):  # 16 px is smaller than the kernel's reach
        worst, frac = _compare_with_cpu_path(np.ascontiguousarray(face), params)
        assert worst <= 1 and frac < 1e-3, (face.shape, worst, frac)


def test_batch_equals_per_sample(faces):
    params = sampled_params("codeformer_stage3", 6) + sampled_params("gfpgan", 6)
    hq = to_tensor(faces[64])[None].repeat(len(params), 1, 1, 1)
    hq = hq * torch.linspace(0.6, 1.0, len(params))[:, None, None, None]  # different images, too
    for kwargs in ({}, {"jpeg": "diff", "noise": "torch"}, {"jpeg": "none", "blur": "fft32"}):
        batched = degrade_batch(hq, params, **kwargs)
        single = torch.cat([degrade_batch(hq[i:i + 1], [p], **kwargs) for i, p in enumerate(params)])
        assert torch.equal(batched, single), kwargs


@pytest.mark.parametrize("jpeg", ["diff", "none"])
def test_gradient_reaches_the_input(faces, jpeg):
    params = sampled_params("diffbir", 4)
    hq = to_tensor(faces[64])[None].repeat(len(params), 1, 1, 1).requires_grad_(True)
    out = degrade_batch(hq, params, jpeg=jpeg, noise="torch")
    (out * torch.linspace(0, 1, out.numel()).view_as(out)).sum().backward()
    assert hq.grad is not None and torch.isfinite(hq.grad).all()
    assert (hq.grad.abs().flatten(1).sum(1) > 0).all()


def test_outputs_are_8bit_levels_in_range(faces):
    params = sampled_params("difface", 6)
    for jpeg in ("cpu", "diff", "none"):
        out = degrade_batch(to_tensor(faces[64])[None].repeat(6, 1, 1, 1), params, jpeg=jpeg)
        assert out.shape == (6, 3, 64, 64) and out.dtype == torch.float32
        assert out.min() >= 0 and out.max() <= 1 and torch.equal(torch.round(out * 255), out * 255)


@pytest.mark.parametrize("size", [128, 64])
def test_differentiable_jpeg_stays_close_to_libjpeg(faces, size):
    x = to_tensor(faces[size])[None]
    for quality in (70, 80, 90, 95):
        gap = (differentiable_jpeg_approx(x, quality) - jpeg_cv2(x, [quality])).abs()
        # Measured on these faces: 0.5-0.8 levels mean (JPEG's own error is 1.7-4.8 levels).
        assert gap.mean().item() * 255 < 1.0, (size, quality, gap.mean().item() * 255)


def test_differentiable_jpeg_takes_per_sample_qualities_and_odd_sizes(faces):
    x = to_tensor(faces[128][:37, :29])[None].repeat(2, 1, 1, 1)
    both = differentiable_jpeg_approx(x, [30, 90])
    assert both.shape == x.shape
    assert torch.equal(both[0], differentiable_jpeg_approx(x[:1], 30)[0])
    assert (both[0] - x[0]).abs().mean() > (both[1] - x[1]).abs().mean()


def test_rejects_bad_arguments(faces):
    hq = to_tensor(faces[64])[None]
    p = sampled_params("gfpgan", 1)
    with pytest.raises(ValueError, match="jpeg must be"):
        degrade_batch(hq, p, jpeg="libjpeg")
    with pytest.raises(ValueError, match="noise must be"):
        degrade_batch(hq, p, noise="cuda")
    with pytest.raises(ValueError, match="blur must be"):
        degrade_batch(hq, p, blur="fft16")
    with pytest.raises(ValueError, match="params for a batch"):
        degrade_batch(hq, p * 2)
    with pytest.raises(ValueError, match=r"\(N,3,H,W\)"):
        degrade_batch(hq[0], p)


def test_downsampled_size_is_the_cpu_paths():
    assert degraded_size(128, 64, 3.0) == (42, 21)
    assert degraded_size(64, 64, 30.0) == (2, 2)
    assert degraded_size(8, 8, 32.0) == (1, 1)
    assert degraded_size(128, 128, 0.8) == (159, 159)  # 128 // 0.8 == 159.0: 0.8 is a hair above 4/5 in binary


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(faces):
    params = sampled_params("gfpgan", 8)
    hq = to_tensor(faces[128])[None].repeat(len(params), 1, 1, 1)
    assert torch.equal(degrade_batch(hq.cuda(), params).cpu(), degrade_batch(hq, params))
