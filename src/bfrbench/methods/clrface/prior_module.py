"""Stage `latent_prior`: denoising score matching of clean latents, conditioned on the degraded image's latent.

Clean latent z0 = quantized VQGAN code of the HQ face; condition c = continuous VQGAN latent of the LQ face; both
multiplied by `latent_scale` (1 / std of clean latents, measured before training) so the SDE sees unit variance.
The frozen VQGAN is carried inside the module (not saved in this stage's output: it is stage 1's).
"""

from __future__ import annotations

import lightning as L
import torch
from torch.nn import functional as F

from bfrbench.methods.clrface.score_net import ConditionalScoreNet, LatentScoreModel
from bfrbench.methods.clrface.sde import make_sde
from bfrbench.methods.clrface.vqgan import VQGAN


class LatentPriorModule(L.LightningModule):
    def __init__(self, vqgan: VQGAN, net: dict, sde: dict, optim: dict, latent_scale: float, t_eps: float):
        super().__init__()
        self.save_hyperparameters({"net": net, "sde": sde, "optim": optim, "latent_scale": latent_scale,
                                   "t_eps": t_eps})
        self.vqgan = vqgan.eval().requires_grad_(False)
        self.model = LatentScoreModel(ConditionalScoreNet(vqgan.embed_dim, **net), make_sde(sde))

    def train(self, mode: bool = True):
        super().train(mode)
        self.vqgan.eval()
        return self

    def state_dict(self, *args, **kwargs):  # checkpoints hold only what this stage trains
        return {k: v for k, v in super().state_dict(*args, **kwargs).items() if not k.startswith("vqgan.")}

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        return super().load_state_dict({**{f"vqgan.{k}": v for k, v in self.vqgan.state_dict().items()},
                                        **state_dict}, strict=strict, **kwargs)

    @torch.no_grad()
    def latents(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.hparams.latent_scale
        z0 = self.vqgan.quantize(self.vqgan.encode(batch["hq"])) * s
        return z0, self.vqgan.encode(batch["lq"]) * s

    def dsm_loss(self, z0: torch.Tensor, cond: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        mean, std = self.model.sde.marginal(t)
        xt = mean.view(-1, 1, 1, 1) * z0 + std.view(-1, 1, 1, 1) * noise
        return F.mse_loss(self.model.eps(xt, cond, t), noise)

    def training_step(self, batch, batch_idx):
        z0, cond = self.latents(batch)
        t = torch.rand(z0.shape[0], device=z0.device) * (1 - self.hparams.t_eps) + self.hparams.t_eps
        loss = self.dsm_loss(z0, cond, t, torch.randn_like(z0))
        self.log("train/dsm", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        z0, cond = self.latents(batch)
        g = torch.Generator(device="cpu").manual_seed(batch_idx)  # fixed noise: comparable across epochs
        noise = torch.randn(z0.shape, generator=g).to(z0.device)
        t = torch.linspace(self.hparams.t_eps, 1.0, z0.shape[0], device=z0.device)
        self.log("val/dsm", self.dsm_loss(z0, cond, t, noise), sync_dist=True)

    def configure_optimizers(self):
        o = self.hparams.optim
        return torch.optim.AdamW(self.model.parameters(), lr=o["lr"], weight_decay=o["weight_decay"])
