"""pyiqa no-reference metrics: offline they are "unavailable" with the fetch command and never touch the network;
with (test-only) random weights swapped into the registry the real build and scoring path runs.

The official checkpoints cannot be downloaded here, so no real MUSIQ/MANIQA/CLIP-IQA/TOPIQ value is checked. Random
weights are accepted in these tests only because each test replaces the registry entry by one whose sha256 is the
random file's own.
"""

import dataclasses
import os
import socket

import numpy as np
import pytest

from bfrbench.errors import AssetError
from bfrbench.metrics.registry import create_metric, get_spec

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("pyiqa")

FILES = {
    "musiq": ["musiq_koniq_ckpt-e95806b9.pth"],
    "maniqa": ["ckpt_koniq10k.pt"],
    "clipiqa": ["RN50.pt"],
    "topiq_nr-face": ["topiq_nr_cgfiqa_res50-0a8b8e4f.pth"],
}


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def empty_dirs(monkeypatch, tmp_path):
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    (tmp_path / "weights").mkdir()
    return tmp_path


def images(n=2, size=64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.random((n, 3, size // 8, size // 8))).float()
    up = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return np.round(up.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(FILES))
def test_offline_unavailable_names_every_file_and_never_connects(name, empty_dirs, no_network):
    spec = get_spec(name)
    assert not spec.full_reference and spec.weights
    metric = create_metric(name)
    reason = metric.check_available()
    assert reason.startswith("unavailable: weights ")
    assert all(f in reason for f in FILES[name])
    assert reason.endswith("; run bfrbench weights fetch " + " ".join(spec.weights))
    with pytest.raises(AssetError, match="unavailable"):
        metric.score_batch(images(1), None)


def test_wrong_file_under_the_official_name_is_refused(empty_dirs, no_network):
    (empty_dirs / "weights" / "musiq_koniq_ckpt-e95806b9.pth").write_bytes(b"something else")
    reason = create_metric("musiq").check_available()
    assert "does not start with e95806b9" in reason and reason.endswith("; run bfrbench weights fetch musiq_koniq")


def accept(monkeypatch, entry: str, path):
    """Test-only: make the registry accept `path` (random weights) as entry `entry`."""
    from bfrbench import weights
    from bfrbench.assets import sha256_file

    fake = dataclasses.replace(weights.WEIGHTS[entry], sha256=sha256_file(path))
    monkeypatch.setitem(weights.WEIGHTS, entry, fake)


def check_scores(name, batch):
    metric = create_metric(name)
    assert metric.check_available() is None
    values = metric.score_batch(batch, None)
    assert values.shape == (len(batch),) and np.all(np.isfinite(values))
    again = metric.score_batch(batch[::-1], None)[::-1]  # same values in another order and batch position
    assert values.tolist() == again.tolist()
    return values


def test_musiq_code_path_with_random_weights(empty_dirs, no_network, monkeypatch):
    from pyiqa.archs.musiq_arch import MUSIQ

    torch.manual_seed(0)
    path = empty_dirs / "weights" / "musiq_koniq_ckpt-e95806b9.pth"
    torch.save(MUSIQ(pretrained=False).state_dict(), path)
    accept(monkeypatch, "musiq_koniq", path)
    check_scores("musiq", images(1, 64))  # MUSIQ rescales to longer sides 224 and 384: ~5 s per image here


def test_clipiqa_code_path_with_a_small_random_clip(empty_dirs, no_network, monkeypatch):
    """A CLIP with the RN50 layout but tiny widths: pyiqa's loader infers the shape from the file."""
    from pyiqa.archs.clip_model import CLIP

    class Archive(torch.nn.Module):  # the official RN50.pt is a TorchScript archive: save the tiny CLIP as one
        def forward(self, x):
            return x * self.logit_scale

    torch.manual_seed(0)
    clip = CLIP(64, 224, (1, 1, 1, 1), 32, None, 77, 49408, 64, 1, 1)
    archive = Archive()
    for name, child in clip.named_children():
        archive.add_module(name, child)
    for name, param in clip.named_parameters(recurse=False):
        archive.register_parameter(name, param)
    path = empty_dirs / "weights" / "RN50.pt"
    torch.jit.save(torch.jit.trace(archive, torch.zeros(1)), path)
    accept(monkeypatch, "clip_rn50", path)
    values = check_scores("clipiqa", images(2, 64))
    assert np.all((values >= 0) & (values <= 1))  # a mean of softmax probabilities


@pytest.mark.slow
def test_topiq_face_code_path_with_random_weights(empty_dirs, no_network, monkeypatch):
    from pyiqa.archs import topiq_arch

    from bfrbench.metrics.pyiqa_nr import _NoFaceRealignment, _patched

    torch.manual_seed(0)
    with _patched(topiq_arch, "FaceRestoreHelper", _NoFaceRealignment):
        net = topiq_arch.CFANet(
            semantic_model_name="resnet50", model_name="topiq_nr_cgfiqa_res50", use_ref=False,
            pretrained=False, backbone_pretrain=False, align_crop_face=False,
        )
    path = empty_dirs / "weights" / "topiq_nr_cgfiqa_res50-0a8b8e4f.pth"
    torch.save({"params": net.state_dict()}, path)
    accept(monkeypatch, "topiq_nr_cgfiqa_res50", path)
    check_scores("topiq_nr-face", images(2, 64))


@pytest.mark.slow
def test_maniqa_code_path_with_random_weights(empty_dirs, no_network, monkeypatch):
    import types

    import timm
    from pyiqa.archs import maniqa_arch

    from bfrbench.metrics.pyiqa_nr import _patched

    torch.manual_seed(0)
    offline_timm = types.SimpleNamespace(create_model=lambda n, pretrained=False, **kw: timm.create_model(n, **kw))
    with _patched(maniqa_arch, "timm", offline_timm):
        net = maniqa_arch.MANIQA(pretrained=False, train_dataset="koniq", scale=0.8)
    path = empty_dirs / "weights" / "ckpt_koniq10k.pt"
    torch.save(net.state_dict(), path)
    accept(monkeypatch, "maniqa_koniq", path)
    metric = create_metric("maniqa")
    model = metric._load()
    model.net.test_sample = 1  # the protocol's 20 ViT-B/8 crops take minutes on CPU; one crop exercises the path
    values = metric.score_batch(images(1, 64), None)
    assert values.shape == (1,) and np.isfinite(values[0])


@pytest.mark.parametrize("name", ["lpips_alex", "lpips_vgg", "niqe", *sorted(FILES)])
def test_every_needed_file_is_a_registry_entry_tagged_with_the_metric(name):
    from bfrbench.weights import get_asset

    spec = get_spec(name)
    assert spec.weights
    for entry in spec.weights:
        asset = get_asset(entry)
        assert "metric" in asset.tags and name in asset.tags, (entry, asset.tags)
        assert asset.urls and all(u.startswith("https://") for u in asset.urls)


def test_piqe_runs_offline_and_ranks_degradations(real_face):
    """PIQE has no learned weights: it runs here, at 128 px (where NIQE is undefined), and equals pyiqa's value."""
    import cv2
    import pyiqa
    import torch

    face = cv2.resize(real_face, (128, 128), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(face, (0, 0), 2)
    x4 = cv2.resize(cv2.resize(face, (32, 32), interpolation=cv2.INTER_LINEAR), (128, 128),
                    interpolation=cv2.INTER_LINEAR)
    metric = create_metric("piqe")
    assert metric.check_available() is None
    scores = metric.score_batch(np.stack([face, blurred, x4]), None)
    assert scores[0] < scores[1] and scores[0] < scores[2]  # lower is better
    assert np.array_equal(metric.score_batch(np.stack([x4, face]), None), scores[[2, 0]])  # batch-independent
    reference = pyiqa.create_metric("piqe", device="cpu")
    with torch.no_grad():
        direct = float(reference(torch.from_numpy(face).permute(2, 0, 1)[None].float() / 255.0))
    assert abs(scores[0] - direct) <= 1e-6 * abs(direct)
