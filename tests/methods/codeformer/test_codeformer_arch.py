"""CodeFormer / VQGAN architecture: official key manifest, tiny forward/backward, fusion taps, fidelity weight."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bfrbench.archs.codeformer import CodeFormer
from bfrbench.archs.keys import key_diff, shapes
from bfrbench.archs.vqgan import VQAutoEncoder

DATA = Path(__file__).parents[1] / "data"


def load_manifest(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def manifest_diff(net, name: str) -> dict:
    return key_diff(shapes(net.state_dict()), load_manifest(name)["keys"])

TINY = dict(img_size=32, nf=32, ch_mult=(1, 1, 2), res_blocks=1, attn_resolutions=(8,), emb_dim=32, norm_groups=8)


def _tiny_codeformer(**kw):
    return CodeFormer(dim_embd=32, n_head=4, n_layers=2, codebook_size=16, connect_list=("16", "32"), **{**TINY, **kw})


@pytest.mark.parametrize("factory,manifest", [
    (lambda: CodeFormer(dim_embd=512, n_head=8, n_layers=9, codebook_size=1024,
                        connect_list=("32", "64", "128", "256")), "codeformer_keys.json"),
    (lambda: VQAutoEncoder(512, 64, (1, 2, 2, 4, 4, 8), codebook_size=1024), "vqgan_code1024_keys.json"),
])
def test_official_checkpoint_keys_and_shapes_match(factory, manifest):
    with torch.device("meta"):  # 94M parameters: shapes only, no memory
        net = factory()
    assert manifest_diff(net, manifest) == {"missing": [], "unexpected": [], "shape": []}
    assert load_manifest(manifest)["param_key"] == "params_ema"


def test_manifest_detects_a_wrong_architecture():
    with torch.device("meta"):
        net = CodeFormer(n_layers=8)
    diff = manifest_diff(net, "codeformer_keys.json")
    assert any(k.startswith("ft_layers.8.") for k in diff["missing"])


def test_fusion_taps_are_the_official_block_indices():
    with torch.device("meta"):
        net = CodeFormer()
    # The official fuse_encoder_block / fuse_generator_block tables of the released model.
    assert net.encoder.taps == {"512": 2, "256": 5, "128": 8, "64": 11, "32": 14, "16": 18}
    assert net.generator.taps == {"16": 6, "32": 9, "64": 12, "128": 15, "256": 18, "512": 21}


def test_tiny_forward_backward_and_fidelity_weight():
    torch.manual_seed(0)
    net = _tiny_codeformer()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    logits, lq_feat = net(x, code_only=True)
    assert logits.shape == (2, 64, 16) and lq_feat.shape == (2, 32, 8, 8)
    out, logits, _ = net(x, w=1.0, detach_16=True)
    assert out.shape == x.shape
    out.mean().backward()
    assert net.fuse_convs_dict["32"].shift[2].weight.grad is not None
    with torch.no_grad():  # w = 0 bypasses the fusion blocks entirely
        for p in net.fuse_convs_dict.parameters():
            p.add_(1.0)
        a = net(x, w=0.0)[0]
        b = net(x, w=0.0)[0]
        c = net(x, w=0.5)[0]
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_vqgan_quantizer_straight_through_and_indices():
    torch.manual_seed(0)
    vq = VQAutoEncoder(**{k: v for k, v in TINY.items()}, codebook_size=16)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out, loss, stats = vq(x)
    assert out.shape == x.shape and loss.ndim == 0
    idx = stats["min_encoding_indices"]
    assert idx.shape == (2, 64) and int(idx.max()) < 16
    (out.mean() + loss).backward()
    assert vq.encoder.blocks[0].weight.grad is not None


def test_unknown_connect_resolution_is_refused():
    with pytest.raises(ValueError, match="connect_list"):
        CodeFormer(connect_list=("48",), **TINY)
