"""ids_arcface_r18_rad: RestoreFormer's IDD (scripts/metrics/cal_identity_distance.py). GFPGAN's arcface_resnet18.pth
is download-only, so the network runs with RANDOM weights (code paths and the comparison with a re-statement of the
script on the same weights; never a reported number); the preprocessing is checked bit for bit against the
script's steps on PNG files."""

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bfrbench.errors import BFRBenchError
from bfrbench.metrics.ids_arcface import angle_degrees, angle_radians
from bfrbench.metrics.ids_arcface_rad import restoreformer_gray128
from bfrbench.metrics.registry import create_metric, get_spec
from bfrbench.nets.arcface_resnet import ArcFaceResNet18


def _script_gray(path, size=128):
    """RestoreFormer's steps, re-stated: cv2.imread (BGR), float32 / 255, torch, its gray_resize_for_identity."""
    img = torch.FloatTensor(cv2.imread(str(path)).astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
    gray = (0.2989 * img[:, 0, :, :] + 0.5870 * img[:, 1, :, :] + 0.1140 * img[:, 2, :, :]).unsqueeze(1)
    return F.interpolate(gray, (size, size), mode="bilinear", align_corners=False)


def _gfpgan_loss_gray(rgb_uint8):
    """GFPGAN's identity loss input, re-stated: RGB tensor normalised to [-1, 1], the same gray function."""
    x = torch.from_numpy(rgb_uint8.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
    x = (x - 0.5) / 0.5
    gray = (0.2989 * x[:, 0, :, :] + 0.5870 * x[:, 1, :, :] + 0.1140 * x[:, 2, :, :]).unsqueeze(1)
    return F.interpolate(gray, (128, 128), mode="bilinear", align_corners=False)


@pytest.fixture
def faces(real_face, tmp_path):
    """The real face (128 px) and a 200 px colour-shifted copy, as PNG files and as RGB arrays."""
    big = cv2.resize(real_face, (200, 200), interpolation=cv2.INTER_CUBIC)
    big[..., 2] = (big[..., 2] // 2).astype(np.uint8)  # less blue: the BGR quirk then changes the gray a lot
    paths = []
    for name, img in (("face", real_face), ("big", big)):
        cv2.imwrite(str(tmp_path / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        paths.append(tmp_path / f"{name}.png")
    return paths, [real_face, big]


def test_preprocessing_equals_the_script_bit_for_bit(faces):
    paths, images = faces
    for path, image in zip(paths, images, strict=True):
        assert np.array_equal(restoreformer_gray128(image[None])[0], _script_gray(path)[0].numpy())
    both = restoreformer_gray128(images)  # mixed sizes in one call: each resized alone
    assert both.shape == (2, 1, 128, 128) and np.array_equal(both[1], _script_gray(paths[1])[0].numpy())


def test_gfpgan_option_equals_its_loss_input_and_the_quirks_matter(faces):
    _, images = faces
    gfpgan = restoreformer_gray128(images[1][None], channel_order="rgb", input_range="-1_1")
    assert np.array_equal(gfpgan[0], _gfpgan_loss_gray(images[1])[0].numpy())
    script = restoreformer_gray128(images[1][None])
    rgb_0_1 = restoreformer_gray128(images[1][None], channel_order="rgb")
    assert script.min() >= 0 and script.max() <= 1 and gfpgan.min() < 0  # the script's [0,1] vs GFPGAN's [-1,1]
    assert np.abs(script - rgb_0_1).max() > 0.05  # 0.2989 on blue vs on red: a visible change of the gray image
    with pytest.raises(ValueError):
        restoreformer_gray128(images[:1], channel_order="yuv")


def test_angle_in_radians_matches_the_script_formula():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 512)).astype(np.float32)
    b = a + rng.uniform(0.05, 2.0, (6, 1)).astype(np.float32) * rng.standard_normal((6, 512)).astype(np.float32)

    def script(e1, e2):  # its misnamed cosine_similarity: np.arccos of the float32 cosine, radians
        return np.arccos(np.dot(e1, e2) / (np.linalg.norm(e1) * np.linalg.norm(e2)))

    expected = np.array([script(x1, x2) for x1, x2 in zip(a, b, strict=True)], np.float64)
    # Bound: the script's cosine is float32 (relative error ~6e-8, i.e. <~4e-5 rad at these angles; measured 7e-8
    # rad); 1e-4 rad holds on any x86 CPU.
    np.testing.assert_allclose(angle_radians(b, a), expected, atol=1e-4)
    assert angle_radians(a, a).tolist() == [0.0] * 6  # the script can give NaN here
    np.testing.assert_allclose(angle_radians(a, -a), math.pi)
    np.testing.assert_array_equal(np.degrees(angle_radians(a, b)), angle_degrees(a, b))


@pytest.fixture
def random_gfpgan_arcface(tmp_path, monkeypatch):
    """RANDOM weights in the official file format ('module.' names), under the file name the registry expects (its
    entry has no official sha256, so the stand-in is accepted, as an unverified file would be: test only)."""
    torch.manual_seed(1)
    net = ArcFaceResNet18()
    for m in net.modules():  # non-trivial BN statistics so a wrong load or wrong input would show
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, folder / "arcface_resnet18.pth")
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    return net.eval()


def test_scores_equal_the_script_restated_on_the_same_random_weights(random_gfpgan_arcface, faces, tmp_path):
    paths, images = faces
    metric = create_metric("ids_arcface_r18_rad")
    assert metric.check_available() is None
    big = images[1]
    other = cv2.resize(np.ascontiguousarray(big[:, ::-1]), (200, 200))
    blurred = cv2.GaussianBlur(big, (0, 0), 2)
    pred, gt = np.stack([big, other, blurred]), np.stack([big] * 3)
    values = metric.score_batch(pred, gt)
    expected = []
    for i, restored in enumerate(pred):  # the script, one pair at a time, on PNG files
        cv2.imwrite(str(tmp_path / f"r{i}.png"), cv2.cvtColor(restored, cv2.COLOR_RGB2BGR))
        with torch.no_grad():
            e_gt = random_gfpgan_arcface(_script_gray(paths[1])).numpy().squeeze()
            e_out = random_gfpgan_arcface(_script_gray(tmp_path / f"r{i}.png")).numpy().squeeze()
        cos = np.dot(e_gt, e_out) / (np.linalg.norm(e_gt) * np.linalg.norm(e_out))
        expected.append(np.arccos(min(cos, 1.0)))  # clipped here only so the identical pair compares (script: NaN)
    assert values[0] == 0.0 and values[1] > 0 and values[2] > 0
    # Bound: the script's float32 cosine (near 0 its arccos can be off by ~3e-4 rad) and batch 6 vs 1 in the network
    # (eval BN: float rounding only); measured 2.7e-6 rad here, 1e-3 rad leaves room for other CPUs' conv kernels.
    np.testing.assert_allclose(values, expected, atol=1e-3)
    assert metric.settings() == {"channel_order": "bgr", "input_range": "0_1",
                                 "weights_entry": "arcface_resnet18_gfpgan"}


def test_missing_weights_are_reported_with_the_fetch_command(no_weights):
    reason = create_metric("ids_arcface_r18_rad").check_available()
    assert reason.startswith("unavailable: ") and "arcface_resnet18.pth" in reason
    assert reason.endswith("; run bfrbench weights fetch arcface_resnet18_gfpgan")
    with pytest.raises(BFRBenchError, match="unknown channel_order"):
        create_metric("ids_arcface_r18_rad", channel_order="yuv")
    with pytest.raises(BFRBenchError, match="unknown input_range"):
        create_metric("ids_arcface_r18_rad", input_range="0_255")


def test_protocol_documents_the_convention_and_its_quirks():
    spec = get_spec("ids_arcface_r18_rad")
    assert spec.unit == "rad" and spec.value_range == (0.0, math.pi) and spec.direction == "lower is better"
    for words in ("RADIANS", "RestoreFormer", "arcface_resnet18.pth", "GFPGAN", "BGR", "0.2989", "channel_order",
                  "input_range", "[0,1]", "file stem", "NaN"):
        assert words in spec.protocol, words
