"""LightningModules of FLIPNET's two embedding stages (module level so DDP can pickle them).

Stage I (`EmbedAEModule`): separate HQ and LQ autoencoders, each trained with L1 + perceptual + adversarial (hinge,
one PatchGAN per domain). Stage II (`EmbedAlignModule`): the HQ encoder from stage I is frozen; the LQ encoder and
both projection heads learn the patch-wise N x N alignment (cross-entropy on the diagonal)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch.nn import functional as F

from bfrbench.methods.flipnet.embedding import (
    FaceAutoencoder,
    FaceEmbedding,
    PatchDiscriminator,
    patch_alignment_loss,
)


def resize_batch(batch: dict, resolution: int) -> dict:
    """HQ/LQ batch tensors at the stage's working resolution (bilinear, antialiased)."""
    out = {}
    for key in ("hq", "lq"):
        x = batch[key]
        if x.shape[-1] != resolution or x.shape[-2] != resolution:
            x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
        out[key] = x
    return out


def build_perceptual(cfg: Mapping[str, Any], seed: int):
    from bfrbench.methods.flipnet.perceptual import VGGPerceptual

    return VGGPerceptual(cfg["weights"], tuple(cfg["layers"]), seed=seed)


class EmbedAEModule(L.LightningModule):
    def __init__(self, model: dict, loss: dict, perceptual: dict, optim: dict, seed: int, resolution: int):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        ch, dim = model["channels"], model["dim"]
        self.ae = torch.nn.ModuleDict({"hq": FaceAutoencoder(ch, dim), "lq": FaceAutoencoder(ch, dim)})
        self.disc = torch.nn.ModuleDict({d: PatchDiscriminator(model["disc_channels"]) for d in ("hq", "lq")})
        self.perceptual = build_perceptual(perceptual, seed) if loss["perceptual"] > 0 else None

    def _generator_loss(self, domain: str, img: torch.Tensor, use_adv: bool) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.hparams.loss
        rec = self.ae[domain](img)
        l1 = F.l1_loss(rec, img)
        loss = w["l1"] * l1
        if self.perceptual is not None:
            perc = self.perceptual(rec, img)
            loss = loss + w["perceptual"] * perc
            self.log(f"train/{domain}_perceptual", perc)
        if use_adv:
            adv = -self.disc[domain](rec).mean()  # hinge generator loss
            loss = loss + w["adversarial"] * adv
            self.log(f"train/{domain}_adv_g", adv)
        self.log(f"train/{domain}_l1", l1, prog_bar=True)
        return loss, rec

    def training_step(self, batch, batch_idx):
        batch = resize_batch(batch, self.hparams.resolution)
        opt_g, opt_d = self.optimizers()
        w = self.hparams.loss
        use_adv = w["adversarial"] > 0 and self.global_step // 2 >= w["adversarial_start"]
        recs = {}
        g_loss = 0.0
        for domain in ("hq", "lq"):
            loss, recs[domain] = self._generator_loss(domain, batch[domain], use_adv)
            g_loss = g_loss + loss
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.log("train/loss_g", g_loss)
        if use_adv:
            d_loss = 0.0
            for domain in ("hq", "lq"):
                real = self.disc[domain](batch[domain])
                fake = self.disc[domain](recs[domain].detach())
                d_loss = d_loss + F.relu(1 - real).mean() + F.relu(1 + fake).mean()
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            opt_d.step()
            self.log("train/loss_d", d_loss)
        else:  # keep both optimizers' step counters in lockstep so global_step counts training steps x2
            opt_d.step()

    def validation_step(self, batch, batch_idx):
        batch = resize_batch(batch, self.hparams.resolution)
        for domain in ("hq", "lq"):
            self.log(f"val/{domain}_l1", F.l1_loss(self.ae[domain](batch[domain]), batch[domain]), sync_dist=True)

    def validation_images(self, batch) -> dict[str, torch.Tensor]:
        """The MLflow sample grid's columns (bfrbench.training.sample_grid): each autoencoder's input and
        reconstruction at the stage's resolution. Stage II (alignment) has no image output."""
        batch = resize_batch(batch, self.hparams.resolution)
        return {"LQ": batch["lq"], "LQ reconstruction": self.ae["lq"](batch["lq"]),
                "HQ reconstruction": self.ae["hq"](batch["hq"]), "HQ": batch["hq"]}

    def configure_optimizers(self):
        o = self.hparams.optim
        opt_g = torch.optim.Adam(self.ae.parameters(), lr=o["lr"], betas=(0.5, 0.9))
        opt_d = torch.optim.Adam(self.disc.parameters(), lr=o["lr_disc"], betas=(0.5, 0.9))
        return [opt_g, opt_d]


class EmbedAlignModule(L.LightningModule):
    def __init__(self, model: dict, optim: dict, resolution: int, stage1_state: dict | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["stage1_state"])
        self.embedding = FaceEmbedding(model["channels"], model["dim"], model["proj_dim"])
        if stage1_state is not None:
            self.embedding.hq.load_state_dict(stage1_state["hq"])
            self.embedding.lq.load_state_dict(stage1_state["lq"])
        # The HQ patch space is the anchor: stage II moves the LQ encoder (and the heads) onto it.
        self.embedding.hq.requires_grad_(False)

    def training_step(self, batch, batch_idx):
        out = self._loss(batch)
        self.log("train/align_ce", out["loss"], prog_bar=True)
        self.log("train/align_top1", out["top1"])
        return out["loss"]

    def _loss(self, batch):
        batch = resize_batch(batch, self.hparams.resolution)
        e = self.embedding
        return patch_alignment_loss(e.embed(batch["hq"], "hq"), e.embed(batch["lq"], "lq"), e.logit_scale)

    def validation_step(self, batch, batch_idx):
        out = self._loss(batch)
        self.log("val/align_ce", out["loss"], sync_dist=True)
        self.log("val/align_top1", out["top1"], sync_dist=True)

    def configure_optimizers(self):
        params = [p for p in self.embedding.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.hparams.optim["lr"], weight_decay=self.hparams.optim["weight_decay"])
