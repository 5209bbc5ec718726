"""LPIPS: same values as the `lpips` package and pyiqa given the same trunk weights; refuses unverified weights.

Real ImageNet trunks cannot be downloaded here, so calibration uses a SEEDED RANDOM trunk (test-only) loaded into all
three implementations, plus the REAL v0.1 linear heads (shipped by lpips==0.1.4, byte-identical to the official
files). The product path accepts the random trunk only because each test swaps in a registry entry whose sha256 is
that file's own: outside these tests the registry holds the official sha256, so random weights are refused.
"""

import dataclasses
import os
import socket
import types

import numpy as np
import pytest

from bfrbench.errors import AssetError
from bfrbench.metrics.lpips import WEIGHTS_ENTRIES, packaged_heads
from bfrbench.metrics.registry import create_metric
from bfrbench.nets.lpips import TRUNKS, LpipsNet

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
REL_TOL = 1e-4


def smooth_batch(seed: int, n: int = 2, size: int = 48) -> np.ndarray:
    """Seeded smooth RGB images (bilinear-upsampled noise) and their noisy copies."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.random((n, 3, size // 8, size // 8))).float()
    up = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return np.round(up.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pair():
    gt = smooth_batch(1)
    rng = np.random.default_rng(2)
    pred = np.clip(gt.astype(np.int16) + rng.integers(-25, 26, gt.shape), 0, 255).astype(np.uint8)
    return pred, gt


@pytest.fixture(scope="module", params=["alex", "vgg"])
def random_trunk(request, tmp_path_factory):
    """(trunk, folder, official file name, state dict) of a seeded random torchvision trunk (features only)."""
    trunk = request.param
    builder, entry = TRUNKS[trunk][0], WEIGHTS_ENTRIES[trunk][0]
    torch.manual_seed(0)
    features = getattr(torchvision.models, builder)(weights=None).features  # seeded default (Kaiming) init
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    folder = tmp_path_factory.mktemp(f"random_{trunk}")
    from bfrbench.weights import get_asset

    filename = get_asset(entry).filename
    torch.save(state, folder / filename)
    return trunk, folder, filename, state


@pytest.fixture
def accept_random(random_trunk, monkeypatch, tmp_path):
    """Point the registry at the random trunk AND record that file's own sha256 (this test only)."""
    from bfrbench import weights
    from bfrbench.assets import sha256_file

    trunk, folder, filename, _ = random_trunk
    entry = WEIGHTS_ENTRIES[trunk][0]
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    fake = dataclasses.replace(weights.WEIGHTS[entry], sha256=sha256_file(folder / filename))
    monkeypatch.setitem(weights.WEIGHTS, entry, fake)
    return random_trunk


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("LPIPS tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def empty_trunk(builder):
    """A torchvision trunk built without random init (every tensor is overwritten by `load_slices`)."""

    def build(*args, **kwargs):
        with torch.device("meta"):
            model = getattr(torchvision.models, builder)(weights=None)
        return model.to_empty(device="cpu")

    return build


EMPTY_TV = types.SimpleNamespace(alexnet=empty_trunk("alexnet"), vgg16=empty_trunk("vgg16"))


def load_slices(net, state):
    """Load torchvision `features.N.*` tensors into the lpips/pyiqa slice layout `sliceK.N.*`."""
    own = {k: state[f"features.{k.split('.', 1)[1]}"] for k in net.state_dict()}
    net.load_state_dict(own, strict=True)


def to_pm1(batch):
    return torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()).float() / 127.5 - 1


def lpips_package_values(trunk, state, pred, gt):
    lpips = pytest.importorskip("lpips")
    from lpips import pretrained_networks

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pretrained_networks, "tv", EMPTY_TV)
        model = lpips.LPIPS(net=trunk, pnet_rand=True, verbose=False)  # heads: the package's real v0.1 files
    load_slices(model.net, state)
    with torch.no_grad():
        return model(to_pm1(pred), to_pm1(gt), normalize=False).flatten().double().numpy()


def pyiqa_values(trunk, state, pred, gt, monkeypatch):
    pytest.importorskip("pyiqa")
    from pyiqa.archs import lpips_arch

    # pyiqa builds its trunk with weights='IMAGENET1K_V1' (a download) whatever `pnet_rand` says: build it empty.
    monkeypatch.setattr(lpips_arch, "models", EMPTY_TV)
    head = packaged_heads(trunk)[WEIGHTS_ENTRIES[trunk][1]]
    model = lpips_arch.LPIPS(net=trunk, pretrained_model_path=str(head))
    head_state = torch.load(head, map_location="cpu")
    assert torch.equal(model.lin0.model[1].weight, head_state["lin0.model.1.weight"])  # heads really loaded
    load_slices(model.net, state)
    with torch.no_grad():
        return model(to_pm1(pred), to_pm1(gt), normalize=False).flatten().double().numpy()


def test_matches_lpips_package_and_pyiqa(accept_random, no_network, pair, monkeypatch):
    trunk, _, _, state = accept_random
    pred, gt = pair
    ours = create_metric(f"lpips_{trunk}").score_batch(pred, gt)
    ref_lpips = lpips_package_values(trunk, state, pred, gt)
    ref_pyiqa = pyiqa_values(trunk, state, pred, gt, monkeypatch)
    assert np.all(ours > 0)
    assert np.max(np.abs(ours - ref_lpips) / ref_lpips) <= REL_TOL
    assert np.max(np.abs(ours - ref_pyiqa) / ref_pyiqa) <= REL_TOL


def test_identity_zero_and_batch_independent(accept_random, pair):
    trunk = accept_random[0]
    n = 2 if trunk == "alex" else 1  # the per-image loop does not depend on the trunk; VGG costs ~10x AlexNet here
    pred, gt = pair[0][:n], pair[1][:n]
    metric = create_metric(f"lpips_{trunk}")
    assert metric.score_batch(gt, gt).tolist() == [0.0] * len(gt)
    batch = metric.score_batch(pred, gt)
    assert batch.tolist() == [metric.score_batch(pred[i : i + 1], gt[i : i + 1])[0] for i in range(len(pred))]
    assert metric.score_batch(pred[::-1], gt[::-1]).tolist() == batch[::-1].tolist()  # negative-stride views
    tiny = pred[:, :31, :31]  # below 32 px the trunk has no pixels left: undefined (NaN, counted), not an abort
    assert np.isnan(metric.score_batch(tiny, gt[:, :31, :31])).all()


def test_refuses_unverified_trunk_even_where_torch_hub_would_take_it(random_trunk, monkeypatch, tmp_path, pair):
    """The random trunk under the official name (in our weights dir AND torch's hub cache) is never used."""
    trunk, folder, filename, _ = random_trunk
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    os.symlink(folder / filename, hub / filename)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    metric = create_metric(f"lpips_{trunk}")
    reason = metric.check_available()
    assert reason.startswith("unavailable: ") and "does not match the expected" in reason
    assert reason.endswith(f"; run bfrbench weights fetch {WEIGHTS_ENTRIES[trunk][0]}")
    with pytest.raises(AssetError, match="unavailable"):
        metric.score_batch(*pair)


@pytest.mark.parametrize("trunk", ["alex", "vgg"])
def test_missing_trunk_is_unavailable_without_network(trunk, no_network, monkeypatch, tmp_path, pair):
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)
    metric = create_metric(f"lpips_{trunk}")
    reason = metric.check_available()
    entry = WEIGHTS_ENTRIES[trunk][0]
    assert reason == (
        f"unavailable: weights {'alexnet-owt-7be5be79.pth' if trunk == 'alex' else 'vgg16-397923af.pth'} missing "
        f"(not in {tmp_path} or $BFRBENCH_WEIGHTS_DIR); run bfrbench weights fetch {entry}"
    )
    with pytest.raises(AssetError, match=f"bfrbench weights fetch {entry}"):
        metric.score_batch(*pair)


def test_heads_from_the_lpips_package_are_accepted_only_by_checksum(monkeypatch, tmp_path):
    from bfrbench.metrics.weights_check import resolve

    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)
    assert resolve("lpips_v0.1_alex_head", packaged_heads("alex")).name == "alex.pth"
    fake = tmp_path / "alex.pth"
    fake.write_bytes(b"not the official heads")
    with pytest.raises(AssetError):
        resolve("lpips_v0.1_alex_head", {"lpips_v0.1_alex_head": fake})


@pytest.mark.parametrize("random_trunk", ["vgg"], indirect=True)
def test_codeformer_lpips_loss_is_the_metric_network(accept_random, pair):
    """CodeFormer's training loss is the lpips_vgg network itself (same class, same tensors), on BasicSR's input
    normalisation, and it passes gradients to the restored image."""
    from bfrbench.methods.codeformer.perceptual import LPIPSLoss

    loss, metric = LPIPSLoss(), create_metric("lpips_vgg")
    net = metric._load()
    assert type(loss.lpips) is LpipsNet is type(net)
    ours, theirs = loss.lpips.state_dict(), net.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    x, y = to_pm1(pair[0][:1]).requires_grad_(True), to_pm1(pair[1][:1])
    value = loss(x, y)
    imagenet = [((t + 1) / 2 - torch.tensor(m).view(1, 3, 1, 1)) / torch.tensor(s).view(1, 3, 1, 1)
                for t, m, s in ((x, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                                (y, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))]
    assert torch.allclose(value, net(*imagenet).mean())
    value.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
