"""CodeFormer stage losses go down on a fixed batch; hinge/adaptive GAN pieces behave as BasicSR's."""

from __future__ import annotations

import torch

from bfrbench.methods.codeformer.losses import adaptive_weight, hinge_d_loss, hinge_g_loss
from bfrbench.methods.codeformer.modules import CodePredictionStage, VQGANStage

VQ = {"img_size": 32, "nf": 16, "ch_mult": [1, 1, 2], "res_blocks": 1, "attn_resolutions": [8], "codebook_size": 32,
      "emb_dim": 16, "norm_groups": 4}
ARCH = {**VQ, "dim_embd": 32, "n_head": 4, "n_layers": 1, "connect_list": ["16", "32"]}
OPT = {"lr": 2e-3, "betas": [0.9, 0.99]}
# no LPIPS term (weight 0: its network is not built), no GAN term
LOSSES = {"l1": 1, "lpips": 0, "lpips_weights": "official", "codebook": 1, "gan": 0, "disc_weight": 0.8}


def _batch():
    g = torch.Generator().manual_seed(0)
    hq = torch.rand(4, 3, 32, 32, generator=g)
    return hq, (hq + 0.2 * torch.randn(4, 3, 32, 32, generator=g)).clamp(0, 1)


def test_vqgan_reconstruction_and_codebook_losses_decrease():
    torch.manual_seed(0)
    stage = VQGANStage(VQ, {"ndf": 8, "n_layers": 2}, OPT, LOSSES, 0.9, 10**9)
    hq = _batch()[0] * 2 - 1
    opt = torch.optim.Adam(stage.net.parameters(), lr=2e-3)

    def loss():
        out, l_cb, _ = stage.net(hq)
        return (out - hq).abs().mean() + l_cb

    first = float(loss())
    for _ in range(15):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert float(loss()) < 0.8 * first


def test_code_prediction_losses_decrease_and_vq_parts_stay_fixed():
    torch.manual_seed(0)
    vq_state = VQGANStage(VQ, {"ndf": 8, "n_layers": 2}, OPT, LOSSES, 0.9, 0).net.state_dict()
    stage = CodePredictionStage(ARCH, vq_state, OPT, {"ce": 0.5, "feat": 1.0}, 0.9)
    assert not any(p.requires_grad for p in stage.net.generator.parameters())
    assert not any(p.requires_grad for p in stage.net.quantize.parameters())
    hq, lq = (x * 2 - 1 for x in _batch())
    opt = stage.configure_optimizers()["optimizer"]
    frozen = stage.net.quantize.embedding.weight.clone()

    def loss():
        logits, lq_feat = stage.net(lq, code_only=True)
        t = stage.code_losses(hq, logits, lq_feat)
        return t["ce"] + t["feat"]

    first = float(loss())
    for _ in range(15):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert float(loss()) < 0.7 * first
    assert torch.equal(frozen, stage.net.quantize.embedding.weight)


def test_hinge_losses_and_adaptive_weight():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    assert float(hinge_d_loss(real, fake)) == 0.25 + 0.75
    assert float(hinge_g_loss(fake)) == 0.75
    w = torch.nn.Parameter(torch.ones(3))
    recon, gan = (w * 2).sum(), (w * 4).sum()
    assert abs(float(adaptive_weight(recon, gan, w)) - 0.5) < 1e-3
    assert float(adaptive_weight((w * 100).sum(), gan, w)) == 1.0  # clamped at max_weight
