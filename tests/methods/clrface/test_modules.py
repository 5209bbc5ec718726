"""Each CLR-Face stage's LightningModule: forward/backward at tiny sizes, and a few steps lower the loss."""

from __future__ import annotations

import pytest
import torch

from bfrbench.errors import ConfigError
from bfrbench.methods.clrface.config import default_config
from bfrbench.methods.clrface.identity_module import IdentityModule
from bfrbench.methods.clrface.prior_module import LatentPriorModule
from bfrbench.methods.clrface.vqgan import VQGAN
from bfrbench.methods.clrface.vqgan_module import VQGANModule
from bfrbench.nets.dlib_resnet import DlibResNet

TINY_VQ = {"channels": [8, 8, 16], "downsample": 4, "embed_dim": 2, "codebook_size": 16, "res_blocks": 1,
           "beta": 0.25}


def _batch(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    hq = torch.rand(n, 3, size, size, generator=g)
    return {"hq": hq, "lq": (hq + 0.2 * torch.rand(n, 3, size, size, generator=g)).clamp(0, 1)}


def test_vqgan_shapes_and_compression():
    for down, channels in ((4, [8, 8, 8]), (8, [8, 8, 8, 8]), (2, [8, 8])):
        vq = VQGAN(channels, downsample=down, embed_dim=3, codebook_size=4)
        x = torch.rand(1, 3, 32, 32)
        assert vq.encode(x).shape == (1, 3, 32 // down, 32 // down)
        rec, qloss = vq(x)
        assert rec.shape == x.shape and qloss.ndim == 0
    with pytest.raises(ConfigError, match="power of two"):
        VQGAN([8, 8], downsample=3)
    with pytest.raises(ConfigError, match="widths"):
        VQGAN([8, 8], downsample=4)


def test_vqgan_module_backward_and_loss_decreases():
    torch.manual_seed(0)
    loss_cfg = {**default_config("vqgan")["loss"], "adversarial_start": 0,
                "discriminator": {"channels": 8, "layers": 2}}
    module = VQGANModule(TINY_VQ, loss_cfg, {"lr": 3e-3, "disc_lr": 1e-4}, DlibResNet())
    batch = _batch()
    out = module.generator_losses(batch["hq"], adversarial=True)
    assert {"l1", "codebook", "perceptual", "g_adv", "total"} <= set(out)
    out["total"].backward()
    assert all(p.grad is not None for p in module.vqgan.decoder.parameters())
    assert all(p.grad is None for p in module.perceptual.parameters())  # the recogniser is frozen
    opt = torch.optim.Adam(module.vqgan.parameters(), lr=3e-3)
    first = None
    for _ in range(8):
        opt.zero_grad()
        loss = module.generator_losses(batch["hq"], adversarial=False)["total"]
        first = float(loss) if first is None else first
        loss.backward()
        opt.step()
    assert float(module.generator_losses(batch["hq"], adversarial=False)["total"]) < first


def test_prior_module_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    vq = VQGAN(**TINY_VQ).eval()
    cfg = default_config("latent_prior")
    for kind in ("ve", "vp"):
        module = LatentPriorModule(vq, {"channels": [8, 16], "time_dim": 16}, {**cfg["sde"], "kind": kind},
                                   {"lr": 3e-3, "weight_decay": 0.0}, latent_scale=2.0, t_eps=1e-3)
        z0, cond = module.latents(_batch())
        t = torch.tensor([0.2, 0.7])
        noise = torch.randn(z0.shape, generator=torch.Generator().manual_seed(1))
        opt = module.configure_optimizers()
        before = float(module.dsm_loss(z0, cond, t, noise))
        for _ in range(10):
            opt.zero_grad()
            module.dsm_loss(z0, cond, t, noise).backward()
            opt.step()
        assert float(module.dsm_loss(z0, cond, t, noise)) < before
        assert all(p.grad is None for p in module.vqgan.parameters())
        assert not any(k.startswith("vqgan.") for k in module.state_dict())


def test_identity_module_backward_and_loss_decreases():
    torch.manual_seed(0)
    vq = VQGAN(**TINY_VQ).eval()
    cfg = default_config("identity")
    module = IdentityModule(vq, DlibResNet(), DlibResNet(), (8, 8), cfg["loss"],
                            {"irn_lr": 1e-3, "mask_lr": 0.1, "weight_decay": 0.0})
    batch = _batch()
    out = module.losses(batch)
    out["total"].backward()
    assert module.mask.logits.grad is not None and module.mask.logits.grad.abs().sum() > 0
    assert all(p.grad is None for p in module.face_id.parameters())
    opt = module.configure_optimizers()
    before = float(module.losses(batch)["total"])
    for _ in range(4):
        opt.zero_grad()
        module.losses(batch)["total"].backward()
        opt.step()
    assert float(module.losses(batch)["total"]) < before
    assert not any(k.startswith(("vqgan.", "face_id.")) for k in module.state_dict())


def test_mask_hard_selects_the_top_fraction():
    from bfrbench.methods.clrface.irn import LatentMask

    mask = LatentMask(2, 4, 4)
    mask.logits.data = torch.arange(32.0).view(2, 4, 4)
    hard = mask.hard(0.25)
    assert float(hard.sum()) == 8 and float(hard[1, 2:].sum()) == 8
    assert float(mask.hard(1.0).mean()) == 1.0
