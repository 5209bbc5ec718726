"""DifFace networks: official key manifests (iDDPM prior, SwinIR estimator), tiny forward/backward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bfrbench.archs.iddpm_unet import IDDPMUNet
from bfrbench.archs.keys import key_diff, shapes
from bfrbench.archs.swinir import SwinIRUnshuffle
from bfrbench.methods.difface.config import OFFICIAL_ESTIMATOR, OFFICIAL_PRIOR

DATA = Path(__file__).parents[1] / "data"
TINY_PRIOR = dict(image_size=32, model_channels=16, out_channels=6, num_res_blocks=[1, 2], attention_resolutions=[16],
                  channel_mult=[1, 2], num_head_channels=16, norm_groups=8)
TINY_EST = dict(img_size=4, embed_dim=24, depths=[2], num_heads=[4], window_size=4, mlp_ratio=2.0, sf=8)


def _diff(net, name):
    return key_diff(shapes(net.state_dict()), json.loads((DATA / name).read_text())["keys"])


@pytest.mark.parametrize("factory,manifest", [
    (lambda: IDDPMUNet(**OFFICIAL_PRIOR), "difface_iddpm_ffhq512_keys.json"),
    (lambda: SwinIRUnshuffle(**OFFICIAL_ESTIMATOR), "difface_swinir512_keys.json"),
])
def test_official_checkpoint_keys_and_shapes_match(factory, manifest):
    with torch.device("meta"):
        net = factory()
    assert _diff(net, manifest) == {"missing": [], "unexpected": [], "shape": []}


def test_manifest_detects_a_wrong_head_count():
    with torch.device("meta"):
        net = SwinIRUnshuffle(**{**OFFICIAL_ESTIMATOR, "num_heads": [4] * 8})
    assert _diff(net, "difface_swinir512_keys.json")["shape"]


def test_prior_forward_backward_and_size_check():
    torch.manual_seed(0)
    net = IDDPMUNet(**TINY_PRIOR)
    x = torch.randn(2, 3, 32, 32)
    out = net(x, torch.tensor([0, 999]))
    assert out.shape == (2, 6, 32, 32)
    out.square().mean().backward()
    assert net.input_blocks[0][0].weight.grad is not None
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(1, 3, 31, 31), torch.tensor([1]))


def test_estimator_forward_backward_any_multiple_size():
    torch.manual_seed(0)
    net = SwinIRUnshuffle(**TINY_EST)
    x = torch.rand(2, 3, 32, 32)
    y = net(x)
    assert y.shape == x.shape
    (y - x).abs().mean().backward()
    assert net.conv_first[1].weight.grad is not None
    assert net(torch.rand(1, 3, 64, 32)).shape == (1, 3, 64, 32)  # masks recomputed for another grid
    with pytest.raises(ValueError, match="divisible"):
        net(torch.rand(1, 3, 40, 40))


def test_swinir_stochastic_depth_trains_and_is_identity_in_eval():
    """drop_path_rate (DifFace's estimator: 0.1) drops whole residual branches per sample in training, as SwinIR's
    DropPath; no parameters, so the state dict (and the released weights' keys) do not change."""
    import torch

    from bfrbench.archs.swinir import SwinIRUnshuffle

    tiny = {"img_size": 4, "embed_dim": 12, "depths": [2, 2], "num_heads": [2, 2], "window_size": 4, "sf": 8}
    torch.manual_seed(0)
    plain = SwinIRUnshuffle(**tiny)
    torch.manual_seed(0)
    dropped = SwinIRUnshuffle(**tiny, drop_path_rate=0.5)
    assert plain.state_dict().keys() == dropped.state_dict().keys()
    blocks = [b for layer in dropped.layers for b in layer.residual_group.blocks]
    rates = [b.drop_path.p for b in blocks if hasattr(b.drop_path, "p")]
    assert rates == pytest.approx([0.5 / 3, 1.0 / 3, 0.5]), "rates rise linearly from 0 over all blocks"
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(plain.eval()(x), dropped.eval()(x)), "identity at inference"
    dropped.train()
    torch.manual_seed(1)
    assert not torch.equal(dropped(x), plain(x))
