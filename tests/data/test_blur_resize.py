"""The degradation's fast path against the exact one: `blur_resize` against cv2.resize(cv2.filter2D(...)), and the
fast tail of `apply_degradation` against the exact tail (bit for bit)."""

import math

import cv2
import numpy as np
import pytest

import bfrbench.data.blur_resize as blur_resize_module
import bfrbench.data.degradation as degradation_module
from bfrbench.data.blur import FFT_ERROR, TRUNCATION_BUDGET
from bfrbench.data.blur_resize import blur_resize, plan_blur_resize
from bfrbench.data.degradation import (
    PRESETS,
    DegradationParams,
    DegradationPipeline,
    apply_degradation,
    gaussian_kernel,
)

FLOAT32_RESIZE_SLACK = 4 * 2.0**-24  # OpenCV's own float32 resize rounding, in either path, values <= 1


def exact(img: np.ndarray, kernel: np.ndarray, dsize: tuple[int, int]) -> np.ndarray:
    x = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img
    out = cv2.filter2D(x, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
    return cv2.resize(out, dsize, interpolation=cv2.INTER_LINEAR).reshape(dsize[1], dsize[0], img.shape[2])


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    from skimage import data

    return cv2.resize(data.astronaut()[20:220, 130:330], (160, 160), interpolation=cv2.INTER_CUBIC)


def check(img: np.ndarray, kernel: np.ndarray, dsize: tuple[int, int], budget: float = TRUNCATION_BUDGET,
          rounding_limit: float = blur_resize_module.ROUNDING_LIMIT) -> str:
    plan = plan_blur_resize(kernel, img.shape[:2], dsize, budget, rounding_limit)
    got, want = blur_resize(img, kernel, dsize, budget, rounding_limit), exact(img, kernel, dsize)
    assert got.shape == want.shape and got.dtype == np.float32
    err = float(np.abs(got.astype(np.float64) - want).max())
    assert plan.blur_plan.truncation_error <= budget
    assert plan.method != "fused" or plan.rounding_bound <= rounding_limit
    assert err <= plan.error_bound + FLOAT32_RESIZE_SLACK, (plan.method, plan.blur_plan.method, err, plan.error_bound)
    return plan.method if plan.method == "fused" else plan.blur_plan.method


@pytest.mark.parametrize("scale", [0.8, 1.0, 1.3, 1.9, 2.0, 3.7, 8.0, 23.0])
def test_every_route_stays_within_its_bound_across_scales(face, scale):
    rng = np.random.default_rng(3)
    images = (face, (rng.random((96, 112, 3)) < 0.5).astype(np.float32))  # 0/1 pixels: the worst case for the bound
    routes = set()
    for img in images:
        h, w = img.shape[:2]
        dsize = (max(1, int(w // scale)), max(1, int(h // scale)))
        for sx, sy, theta in [(0.2, 0.2, 0.0), (2.0, 2.0, 0.0), (9.0, 9.0, 0.0), (6.0, 1.0, 0.0), (7.0, 2.0, 0.9),
                              (12.0, 0.3, math.pi / 5), (0.5, 0.3, 2.0), (4.3, 9.9, 2.16)]:
            routes.add(check(img, gaussian_kernel(41, sx, sy, theta), dsize))
    assert "fused" in routes or scale <= 1.0  # a downscale reads fewer rows than the blur makes: fusing can pay


def test_thin_rotated_kernel_takes_the_fft_route_within_its_measured_error(face):
    kernel = gaussian_kernel(41, 12.0, 0.3, math.pi / 5)  # a thin slanted line: full rank, no cheap factors
    plan = plan_blur_resize(kernel, face.shape[:2], (140, 140))
    assert plan.method == "separate" and plan.blur_plan.method == "fft"
    err = np.abs(blur_resize(face, kernel, (140, 140)).astype(np.float64) - exact(face, kernel, (140, 140))).max()
    assert err <= FFT_ERROR / 4


def test_uint8_and_float_inputs_agree(face):
    for kernel, dsize in [(gaussian_kernel(41, 3.0, 3.0, 0.0), (40, 40)), (gaussian_kernel(41, 12.0, 0.3, 0.6),
                                                                        (150, 150))]:
        a = blur_resize(face, kernel, dsize)
        b = blur_resize(face.astype(np.float32) / 255.0, kernel, dsize)
        assert np.array_equal(a, b)


def test_sampled_presets_are_close_to_the_exact_path(face):
    for preset in sorted(PRESETS):
        pipe = DegradationPipeline(PRESETS[preset], seed=5)
        for i in range(10):
            p = pipe.params_for(i)
            kernel = gaussian_kernel(p.kernel_size, p.sigma_x, p.sigma_y, p.theta)
            check(face, kernel, (max(1, int(160 // p.scale)), max(1, int(160 // p.scale))))


def test_training_budget_keeps_every_preset_within_one_level(face):
    """The fast (training) path's looser budget: every route stays within its own bound, and the worst case of
    truncation + rounding (+ the FFT route's measured error) is below one 8-bit level, the issue's bound before JPEG."""
    budget, limit = degradation_module.FAST_TRUNCATION_BUDGET, degradation_module.FAST_ROUNDING_LIMIT
    assert budget + limit + FFT_ERROR + FLOAT32_RESIZE_SLACK < 1 / 255
    rng = np.random.default_rng(8)
    noise = (rng.random((160, 160, 3)) < 0.5).astype(np.float32)  # 0/1 pixels: the worst case for the bound
    routes = set()
    for preset in ("gfpgan", "diffbir"):  # the presets with the widest scale and sigma ranges
        pipe = DegradationPipeline(PRESETS[preset], seed=11)
        for i in range(12):
            p = pipe.params_for(i)
            kernel = gaussian_kernel(p.kernel_size, p.sigma_x, p.sigma_y, p.theta)
            dsize = (max(1, int(160 // p.scale)), max(1, int(160 // p.scale)))
            for img in (face, noise):
                routes.add(check(img, kernel, dsize, budget, limit))
    assert "fused" in routes


def _exact_blur_resize(img, kernel, dsize, *budgets):
    return exact(img, kernel, dsize)


@pytest.mark.parametrize("preset", ["gfpgan", "difface"])
def test_fast_tail_is_bit_identical_to_the_exact_tail(face, preset, monkeypatch):
    # With the exact blur and downsample swapped in, fast_blur=True must give the exact path's bytes: everything
    # after the downsample (noise, JPEG, upsample, colour shift, gray, rounding) is the same computation.
    monkeypatch.setattr(blur_resize_module, "blur_resize", _exact_blur_resize)
    # and the exact path's noise stream (the fast path draws from torch's generator: `fast_noise`)
    monkeypatch.setattr(degradation_module, "fast_noise", degradation_module.standard_noise)
    pipe = DegradationPipeline(PRESETS[preset], seed=2)
    params = [pipe.params_for(i) for i in range(8)]
    extra = DegradationParams(0, "iso", 2.0, 2.0, 0.0, 1.5, 9.0, 41, 7, (0.05, -0.07, 0.02), True)
    for p in params + [extra, DegradationParams(0, "iso", 2.0, 2.0, 0.0, 3.0, 0.0, 90, 7, (0.0, 0.08, -0.08))]:
        assert np.array_equal(apply_degradation(face, p, fast_blur=True), apply_degradation(face, p)), p


@pytest.mark.parametrize("n_in, n_out", [(512, 400), (160, 37), (41, 9), (3, 2), (1, 1), (50, 50)])
def test_band_scatter_equals_bincount_bit_for_bit(n_in, n_out):
    # _scatter_add replaced np.bincount in _banded: same float32 bits (signed zeros and the reflected borders'
    # repeated indices, summed in bincount's order, included).
    rng = np.random.default_rng(n_in)
    taps = rng.standard_normal((3, 41)) * 1e-3
    taps[0, 5] = -0.0
    for anchor in (20, 3, 37):
        index, weight = blur_resize_module._taps_and_indices(taps, anchor, n_in, n_out)
        flat = (np.arange(n_out)[:, None] * (n_in * 3) + index * 3).T[None] + np.arange(3)[:, None, None]
        total = n_out * n_in * 3
        want = np.bincount(flat.ravel(), weight.ravel(), minlength=total).astype(np.float32)
        got = blur_resize_module._scatter_add(flat, weight, index[:, -1] - index[:, 0] == taps.shape[1], total)
        assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


def test_fused_plan_reuses_plan_blurs_factors_unchanged(face):
    # plan_blur_resize takes plan_blur's separable candidate instead of factorising again: the same factors as a
    # fresh factorisation with the larger term limit.
    from bfrbench.data.blur import _separable_plan

    pipe = DegradationPipeline(PRESETS["gfpgan"], seed=4)
    for i in range(24):
        p = pipe.params_for(i)
        k = gaussian_kernel(p.kernel_size, p.sigma_x, p.sigma_y, p.theta).astype(np.float32)
        small = (max(1, int(160 // p.scale)), max(1, int(160 // p.scale)))
        plan = plan_blur_resize(k, (160, 160), small)
        if plan.method != "fused":
            continue
        fresh = _separable_plan(k.astype(np.float64), TRUNCATION_BUDGET, (20, 20), max_terms=41)
        assert fresh is not None and fresh.anchor == plan.blur_plan.anchor
        for a, b in zip(fresh.rows + fresh.cols, plan.blur_plan.rows + plan.blur_plan.cols, strict=True):
            assert a.tobytes() == b.tobytes()
