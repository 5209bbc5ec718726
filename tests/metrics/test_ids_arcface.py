"""ids_arcface_r18: VQFR's 'Deg.' metric. The official weights are download-only, so the network runs here with
random weights to exercise code paths only; the formulas are checked against direct re-statements of VQFR's script."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bfrbench.archs.keys import describe, key_diff, shapes
from bfrbench.errors import BFRBenchError
from bfrbench.metrics.ids_arcface import angle_degrees, vqfr_gray128
from bfrbench.metrics.registry import create_metric, get_spec
from bfrbench.nets.arcface_resnet import ArcFaceResNet18, load_arcface_resnet18

MANIFEST = Path(__file__).parent / "data" / "arcface_resnet18_keys.json"


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)


@pytest.fixture
def random_checkpoint(tmp_path, monkeypatch):
    """A checkpoint in the official format ('module.' names, no num_batches_tracked as in a 2018 save), random
    values."""
    torch.manual_seed(0)
    net = ArcFaceResNet18()
    for m in net.modules():  # non-trivial BN statistics so a wrong load would show
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = {f"module.{k}": v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save(state, folder / "resnet18_110.pth")
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    return folder / "resnet18_110.pth", net.eval()


def test_state_dict_matches_the_official_checkpoint_manifest():
    reference = json.loads(MANIFEST.read_text())["keys"]
    ours = {f"module.{k}": v for k, v in shapes(ArcFaceResNet18().state_dict()).items()}
    diff = key_diff(ours, reference)
    assert describe(diff) == "identical", describe(diff)
    assert len(reference) == 181


def test_loads_official_format_strictly(random_checkpoint):
    path, net = random_checkpoint
    loaded = load_arcface_resnet18(str(path))
    x = torch.rand(2, 1, 128, 128) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    assert loaded(x).shape == (2, 512)


def test_angle_matches_vqfr_formula_on_fixed_embeddings():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 512)).astype(np.float32)
    b = (a + rng.uniform(0.05, 2.0, (6, 1)).astype(np.float32) * rng.standard_normal((6, 512)).astype(np.float32))

    def vqfr(x1, x2):  # metric_paper/calculate_cos_dist.py: cosin_metric, then arccos / pi * 180 (float32 numpy)
        return np.arccos(np.dot(x1, x2) / (np.linalg.norm(x1) * np.linalg.norm(x2))) / math.pi * 180

    expected = np.array([vqfr(x1, x2) for x1, x2 in zip(a, b)], np.float64)
    np.testing.assert_allclose(angle_degrees(b, a), expected, atol=2e-3)
    assert angle_degrees(a, a).tolist() == [0.0] * 6
    np.testing.assert_allclose(angle_degrees(a, -a), 180.0)
    np.testing.assert_allclose(angle_degrees(a[:1], 3.0 * a[:1]), 0.0, atol=1e-5)  # float32 rounding of 3a


def test_preprocessing_equals_vqfr_load_image(tmp_path, real_face):
    cv2.imwrite(str(tmp_path / "face.png"), cv2.cvtColor(real_face, cv2.COLOR_RGB2BGR))
    image = cv2.imread(str(tmp_path / "face.png"), 0)  # VQFR load_image, verbatim steps
    image = cv2.resize(image, (128, 128), interpolation=cv2.INTER_LINEAR)[np.newaxis].astype(np.float32)
    image = (image - 127.5) / 127.5
    big = cv2.resize(real_face, (200, 200), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "big.png"), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    big_vqfr = cv2.resize(cv2.imread(str(tmp_path / "big.png"), 0), (128, 128), interpolation=cv2.INTER_LINEAR)
    ours = vqfr_gray128(np.stack([real_face]))
    assert np.array_equal(ours[0], image)
    assert np.array_equal(vqfr_gray128(big[None])[0, 0], (big_vqfr.astype(np.float32) - 127.5) / 127.5)


def test_drop_under_1deg_is_an_option_off_by_default():
    values = [0.0, 0.5, 10.0, 20.0]
    keep = create_metric("ids_arcface_r18").summarize(values)
    assert keep == {"value": 7.625, "n": 4}
    vqfr = create_metric("ids_arcface_r18", vqfr_drop_under_1deg=True).summarize(values)
    assert vqfr == {"value": 15.0, "n": 2, "n_dropped_under_1deg": 2}


def test_scores_with_loaded_network(random_checkpoint, real_face):
    metric = create_metric("ids_arcface_r18")
    assert metric.check_available() is None
    other = np.ascontiguousarray(real_face[:, ::-1])
    blurred = cv2.GaussianBlur(real_face, (0, 0), 2)
    pred = np.stack([real_face, other, blurred])
    gt = np.stack([real_face] * 3)
    values = metric.score_batch(pred, gt)
    assert values[0] == 0.0 and values[1] > 0 and values[2] > 0
    single = [metric.score_batch(pred[i : i + 1], gt[i : i + 1])[0] for i in range(3)]
    np.testing.assert_allclose(values, single, atol=1e-4)


def test_missing_weights_are_reported_with_the_fetch_command(no_weights):
    reason = create_metric("ids_arcface_r18").check_available()
    assert reason.startswith("unavailable: ") and "resnet18_110.pth" in reason
    assert reason.endswith("; run bfrbench weights fetch arcface_resnet18_vqfr")
    gfpgan = create_metric("ids_arcface_r18", weights_entry="arcface_resnet18_gfpgan").check_available()
    assert "arcface_resnet18.pth" in gfpgan and gfpgan.endswith("fetch arcface_resnet18_gfpgan")
    with pytest.raises(BFRBenchError, match="unknown weights_entry"):
        create_metric("ids_arcface_r18", weights_entry="nope")


def test_protocol_documents_the_deliberate_differences():
    protocol = get_spec("ids_arcface_r18").protocol
    assert "resnet18_110.pth" in protocol and "128x128" in protocol and "(x-127.5)/127.5" in protocol
    assert "file stem" in protocol and "vqfr_drop_under_1deg" in protocol
