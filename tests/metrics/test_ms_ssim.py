"""ms_ssim follows pyiqa's 'ms_ssim' convention, calibrated against pyiqa and compared with torchmetrics."""

import cv2
import numpy as np
import pytest

from bfrbench.metrics.ms_ssim import MIN_SIDE, ms_ssim_image, yiq_luma_rounded
from bfrbench.metrics.registry import create_metric, get_spec

torch = pytest.importorskip("torch")
REL_TOL = 1e-4


def rel_diff(a, b) -> float:
    return abs(float(a) - float(b)) / abs(float(b))


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(20261123)
    coarse = rng.random((185 // 8, 177 // 8, 3)) * 255
    gt = np.clip(np.round(cv2.resize(coarse, (177, 185), interpolation=cv2.INTER_CUBIC)), 0, 255).astype(np.uint8)
    noisy = cv2.GaussianBlur(gt, (0, 0), 1.2).astype(np.float64) + rng.normal(0, 8, gt.shape)
    out = {"random_odd_sizes": (np.clip(np.round(noisy), 0, 255).astype(np.uint8), gt)}  # odd sides: padded pooling
    data = pytest.importorskip("skimage.data")
    photo = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    small = cv2.resize(photo, (64, 64), interpolation=cv2.INTER_CUBIC)
    out["photo_x4"] = (cv2.resize(small, (256, 256), interpolation=cv2.INTER_CUBIC), photo)
    return out


def as_tensor(img):
    return torch.from_numpy(img[None]).permute(0, 3, 1, 2).float() / 255.0


@pytest.mark.parametrize("which", ["random_odd_sizes", "photo_x4"])
def test_matches_pyiqa(pairs, which):
    pyiqa = pytest.importorskip("pyiqa")
    pred, gt = pairs[which]
    theirs = pyiqa.create_metric("ms_ssim", device="cpu")(as_tensor(pred), as_tensor(gt)).item()
    ours = create_metric("ms_ssim").score_batch(pred[None], gt[None])[0]
    assert rel_diff(ours, theirs) <= REL_TOL  # measured 1.6e-7 and 9.6e-8


@pytest.mark.parametrize("which", ["random_odd_sizes", "photo_x4"])
def test_close_to_torchmetrics_on_the_same_luma(pairs, which):
    tmf = pytest.importorskip("torchmetrics.functional.image")
    pred, gt = pairs[which]

    def luma(img):
        return torch.from_numpy(yiq_luma_rounded(img)[None]).permute(0, 3, 1, 2)

    theirs = tmf.multiscale_structural_similarity_index_measure(luma(pred), luma(gt), data_range=255.0,
                                                                normalize="relu").item()
    # Convention gap, measured 3.2e-4 and 1.0e-4: torchmetrics averages reflect-padded SSIM maps over the whole
    # image and pools without pyiqa's zero padding; pyiqa (and we) use the valid region.
    assert rel_diff(ms_ssim_image(pred, gt), theirs) < 1e-3


def test_identical_is_one_and_small_images_are_undefined(pairs):
    _, gt = pairs["photo_x4"]
    metric = create_metric("ms_ssim")
    assert metric.score_batch(gt[None], gt[None])[0] == pytest.approx(1.0, abs=1e-12)
    small = gt[: MIN_SIDE - 1, : MIN_SIDE - 1]
    values = metric.score_batch(np.stack([small, small]), np.stack([small, small]))
    assert np.isnan(values).all()
    summary = metric.summarize([0.9, np.nan])
    assert summary["value"] == 0.9 and summary["n_nan"] == 1


def test_degradation_lowers_the_score(pairs):
    pred, gt = pairs["photo_x4"]
    assert create_metric("ms_ssim").score_batch(pred[None], gt[None])[0] < 0.99


def test_protocol():
    spec = get_spec("ms_ssim")
    assert spec.full_reference and spec.direction == "higher is better" and "pyiqa" in spec.protocol
