"""PSNR/SSIM follow BasicSR's convention, calibrated against pyiqa and torchmetrics.

Deliberate convention differences found while calibrating (each one is checked below, not just claimed):
- BasicSR computes Y in float32; we compute it in float64 (gap < 1e-6 relative).
- pyiqa's SSIM clamps the contrast-structure term at 0 (ReLU) and, on the Y channel, ROUNDS Y to integers (MATLAB
  style); BasicSR does neither. Where neither applies pyiqa agrees to <= 1e-4; where they do, pyiqa equals a
  plain BasicSR-procedure reference with the same clamp/rounding switched on, to <= 1e-4.
- pyiqa's DEFAULT Y ('psnry', 'ssim' without color_space) is YIQ luma, not BT.601 YCbCr: never compare to it.
- torchmetrics' SSIM averages the map over the whole reflect-padded image; BasicSR uses the valid region only.
  Cropping torchmetrics' full map to the valid region recovers our value.
"""

import os

import cv2
import numpy as np
import pytest

from bfrbench.errors import BFRBenchError
from bfrbench.metrics.psnr_ssim import psnr_batch, ssim_batch
from bfrbench.metrics.registry import create_metric

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REL_TOL = 1e-4


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(np.max(np.abs(a - b) / np.abs(b)))


# --- images ---------------------------------------------------------------------------------------------------------


def smooth_random(rng, n, h, w) -> np.ndarray:
    """Seeded random images with natural-image-like smoothness (bicubic-upsampled noise)."""
    coarse = rng.random((n, h // 8, w // 8, 3)) * 255
    up = [cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in coarse]
    return np.clip(np.round(np.stack(up)), 0, 255).astype(np.uint8)


def blur_noise_jpeg(batch, rng) -> np.ndarray:
    out = []
    for img in batch:
        x = cv2.GaussianBlur(img, (0, 0), 1.2).astype(np.float64) + rng.normal(0, 8, img.shape)
        x = np.clip(np.round(x), 0, 255).astype(np.uint8)
        _, enc = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, 50])
        out.append(cv2.imdecode(enc, cv2.IMREAD_UNCHANGED))
    return np.stack(out)


def bicubic_down_up(img, factor=4) -> np.ndarray:
    h, w = img.shape[:2]
    small = cv2.resize(img, (w // factor, h // factor), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def random_pair():
    rng = np.random.default_rng(20261123)
    gt = smooth_random(rng, 4, 96, 80)  # non-square on purpose
    return blur_noise_jpeg(gt, rng), gt


@pytest.fixture(scope="module")
def photo_pair():
    data = pytest.importorskip("skimage.data")
    # The real photo at 256 px keeps the per-channel reference below fast; the degradation is x4 bicubic down/up.
    gt = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    return bicubic_down_up(gt)[None], gt[None]


# --- a plain, per-image, per-channel reference of BasicSR's procedure ------------------------------------------------


def basicsr_y_float32(rgb: np.ndarray) -> np.ndarray:
    """BasicSR's to_y_channel path on a uint8 image: /255 in float32, BT.601 dot, back to float32, *255."""
    x = rgb.astype(np.float32) / 255.0
    y = (np.dot(x, [65.481, 128.553, 24.966]) + 16.0) / 255.0
    return (y.astype(np.float32) * 255.0)[..., None]


def reference_scores(pred, gt, y_only, clamp_cs=False, round_y=False):
    kernel = cv2.getGaussianKernel(11, 1.5)
    window = kernel @ kernel.T
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    psnrs, ssims = [], []
    for p, g in zip(pred, gt):
        if y_only:
            p, g = basicsr_y_float32(p), basicsr_y_float32(g)
            if round_y:
                p, g = np.round(p), np.round(g)
        p, g = p.astype(np.float64), g.astype(np.float64)
        mse = np.mean((p - g) ** 2)
        psnrs.append(10 * np.log10(255.0**2 / mse))
        per_channel = []
        for c in range(p.shape[2]):
            a, b = p[..., c], g[..., c]

            def filt(z):
                return cv2.filter2D(z, -1, window)[5:-5, 5:-5]

            mu_a, mu_b = filt(a), filt(b)
            var_a, var_b = filt(a * a) - mu_a**2, filt(b * b) - mu_b**2
            cov = filt(a * b) - mu_a * mu_b
            cs = (2 * cov + c2) / (var_a + var_b + c2)
            if clamp_cs:
                cs = np.maximum(cs, 0)
            per_channel.append((((2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)) * cs).mean())
        ssims.append(np.mean(per_channel))
    return np.array(psnrs), np.array(ssims)


@pytest.mark.parametrize("y_only", [False, True])
@pytest.mark.parametrize("which", ["random_pair", "photo_pair"])
def test_matches_basicsr_procedure(request, which, y_only):
    pred, gt = request.getfixturevalue(which)
    ref_psnr, ref_ssim = reference_scores(pred, gt, y_only)
    assert rel_diff(psnr_batch(pred, gt, y_only), ref_psnr) < 1e-6
    assert rel_diff(ssim_batch(pred, gt, y_only), ref_ssim) < 1e-6


# --- pyiqa ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pyiqa_metrics():
    pyiqa = pytest.importorskip("pyiqa")

    def make(name, **kw):
        return pyiqa.create_metric(name, device="cpu", **kw)

    return {
        "psnr_rgb": make("psnr", test_y_channel=False),
        "psnr_y": make("psnr", test_y_channel=True, color_space="ycbcr"),
        "ssim_rgb": make("ssimc"),
        "ssim_y": make("ssim", test_y_channel=True, color_space="ycbcr"),
        "psnry_default": make("psnry"),
        "ssim_default": make("ssim"),
    }


def pyiqa_scores(metric, pred, gt) -> np.ndarray:
    import torch

    def t(b):
        return torch.from_numpy(b).permute(0, 3, 1, 2).float() / 255.0

    with torch.no_grad():
        return metric(t(pred), t(gt)).double().numpy().ravel()


@pytest.mark.parametrize("which", ["random_pair", "photo_pair"])
def test_psnr_matches_pyiqa(request, pyiqa_metrics, which):
    pred, gt = request.getfixturevalue(which)
    for name in ("psnr_rgb", "psnr_y"):
        ours = create_metric(name).score_batch(pred, gt)
        assert rel_diff(ours, pyiqa_scores(pyiqa_metrics[name], pred, gt)) <= REL_TOL, name


def test_ssim_rgb_matches_pyiqa_where_no_clamping(random_pair, pyiqa_metrics):
    pred, gt = random_pair
    ours = create_metric("ssim_rgb").score_batch(pred, gt)
    assert rel_diff(ours, pyiqa_scores(pyiqa_metrics["ssim_rgb"], pred, gt)) <= REL_TOL


@pytest.mark.parametrize("which", ["random_pair", "photo_pair"])
def test_pyiqa_ssim_is_basicsr_plus_clamp_and_rounding(request, pyiqa_metrics, which):
    pred, gt = request.getfixturevalue(which)
    _, ref_rgb = reference_scores(pred, gt, False, clamp_cs=True)
    _, ref_y = reference_scores(pred, gt, True, clamp_cs=True, round_y=True)
    assert rel_diff(pyiqa_scores(pyiqa_metrics["ssim_rgb"], pred, gt), ref_rgb) <= REL_TOL
    assert rel_diff(pyiqa_scores(pyiqa_metrics["ssim_y"], pred, gt), ref_y) <= REL_TOL
    # Measured size of those convention gaps, ours vs pyiqa: ssim_rgb 1.0e-3 on the photo (clamp), ssim_y 7.7e-4 on
    # the random pair (mostly Y rounding).
    for name in ("ssim_rgb", "ssim_y"):
        assert rel_diff(create_metric(name).score_batch(pred, gt), pyiqa_scores(pyiqa_metrics[name], pred, gt)) < 2e-3


def test_pyiqa_default_y_is_yiq_not_ycbcr(photo_pair, pyiqa_metrics):
    pred, gt = photo_pair
    assert rel_diff(psnr_batch(pred, gt, True), pyiqa_scores(pyiqa_metrics["psnry_default"], pred, gt)) > 1e-2
    assert rel_diff(ssim_batch(pred, gt, True), pyiqa_scores(pyiqa_metrics["ssim_default"], pred, gt)) > 1e-2


# --- torchmetrics ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["random_pair", "photo_pair"])
def test_matches_torchmetrics_on_the_valid_region(request, which):
    torch = pytest.importorskip("torch")
    tmf = pytest.importorskip("torchmetrics.functional.image")
    pred, gt = request.getfixturevalue(which)
    p = torch.from_numpy(pred).permute(0, 3, 1, 2).double()
    g = torch.from_numpy(gt).permute(0, 3, 1, 2).double()
    tm_psnr = tmf.peak_signal_noise_ratio(p, g, data_range=255.0, reduction="none", dim=(1, 2, 3)).numpy()
    assert rel_diff(psnr_batch(pred, gt), tm_psnr) <= 1e-6  # torchmetrics keeps a float32 step even for float64 input
    _, full_map = tmf.structural_similarity_index_measure(p, g, data_range=255.0, return_full_image=True)
    tm_valid = full_map[..., 5:-5, 5:-5].mean(dim=(1, 2, 3)).numpy()
    assert rel_diff(ssim_batch(pred, gt), tm_valid) <= 1e-8


# --- behaviour ------------------------------------------------------------------------------------------------------


def test_identical_images_psnr_inf_ssim_one(random_pair):
    _, gt = random_pair
    for name in ("psnr_rgb", "psnr_y"):
        assert np.all(np.isposinf(create_metric(name).score_batch(gt, gt)))
    for name in ("ssim_rgb", "ssim_y"):
        assert np.allclose(create_metric(name).score_batch(gt, gt), 1.0, rtol=0, atol=1e-12)


def test_aggregate_makes_inf_explicit():
    metric = create_metric("psnr_rgb")
    summary = metric.summarize([30.0, np.inf, 20.0])
    assert summary["value"] == np.inf and summary["n"] == 3
    assert summary["n_inf"] == 1 and summary["mean_finite"] == 25.0
    assert metric.aggregate([30.0, 20.0]) == 25.0


def test_nan_is_a_bug_for_pixel_metrics():
    with pytest.raises(ValueError, match="NaN"):
        create_metric("ssim_rgb").aggregate([0.5, np.nan])


def test_batch_scores_equal_one_by_one(random_pair):
    pred, gt = random_pair
    for name in ("psnr_rgb", "psnr_y", "ssim_rgb", "ssim_y"):
        metric = create_metric(name)
        whole = metric.score_batch(pred, gt)
        single = np.concatenate([metric.score_batch(pred[i : i + 1], gt[i : i + 1]) for i in range(len(pred))])
        assert whole.dtype == np.float64 and whole.tolist() == single.tolist(), name


def test_contract_violations_fail_loudly(random_pair):
    pred, gt = random_pair
    metric = create_metric("psnr_y")
    with pytest.raises(ValueError, match="uint8"):
        metric.score_batch(pred.astype(np.float32), gt)
    with pytest.raises(ValueError, match="differ"):
        metric.score_batch(pred[:2], gt[:3])
    with pytest.raises(BFRBenchError, match="ground-truth"):
        metric.score_batch(pred, None)
