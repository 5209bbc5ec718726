"""Stage `vqgan`: L1 + perceptual + adversarial (hinge, PatchGAN) + codebook/commitment losses.

Two optimizers, stepped by hand (the discriminator only from `loss.adversarial_start` on), so Lightning's `max_steps`
counts optimizer steps: one per batch before `adversarial_start`, two per batch after it.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.nn import functional as F

from bfrbench.methods.clrface.face_id import RecognitionPerceptual
from bfrbench.methods.clrface.vqgan import VQGAN, PatchDiscriminator


class VQGANModule(L.LightningModule):
    def __init__(self, model: dict, loss: dict, optim: dict, perceptual_net: torch.nn.Module | None):
        super().__init__()
        self.save_hyperparameters({"model": model, "loss": loss, "optim": optim})
        self.automatic_optimization = False
        self.vqgan = VQGAN(**model)
        self.disc = PatchDiscriminator(**loss["discriminator"])
        self.perceptual = RecognitionPerceptual(perceptual_net) if perceptual_net is not None else None
        if self.perceptual is None and loss["perceptual_weight"] > 0:
            raise ValueError("perceptual_weight > 0 needs a perceptual network")
        self.batches = 0  # batches seen (global_step counts optimizer steps)

    def generator_losses(self, hq: torch.Tensor, adversarial: bool) -> dict[str, torch.Tensor]:
        w = self.hparams.loss
        rec, qloss = self.vqgan(hq)
        out = {"l1": F.l1_loss(rec, hq), "codebook": qloss}
        total = w["l1_weight"] * out["l1"] + w["codebook_weight"] * qloss
        if self.perceptual is not None and w["perceptual_weight"] > 0:
            out["perceptual"] = self.perceptual(rec, hq)
            total = total + w["perceptual_weight"] * out["perceptual"]
        if adversarial:
            out["g_adv"] = -self.disc(rec).mean()
            total = total + w["adversarial_weight"] * out["g_adv"]
        out["total"] = total
        out["rec"] = rec
        return out

    def training_step(self, batch, batch_idx):
        opt_g, opt_d = self.optimizers()
        hq = batch["hq"]
        adversarial = self.batches >= self.hparams.loss["adversarial_start"]
        self.disc.requires_grad_(False)
        losses = self.generator_losses(hq, adversarial)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(losses["total"])
        opt_g.step()
        self.disc.requires_grad_(True)
        if adversarial:
            real, fake = self.disc(hq), self.disc(losses["rec"].detach())
            d_loss = 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            opt_d.step()
            self.log("train/d_hinge", d_loss)
        self.batches += 1
        for k, v in losses.items():
            if k != "rec":
                self.log(f"train/{k}", v, prog_bar=k == "total")

    def validation_step(self, batch, batch_idx):
        rec, _ = self.vqgan(batch["hq"])
        rec = rec.clamp(0, 1)
        mse = torch.mean((rec - batch["hq"]) ** 2, dim=(1, 2, 3))
        self.log("val/l1", F.l1_loss(rec, batch["hq"]), sync_dist=True)
        self.log("val/psnr_rgb", (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean(), sync_dist=True)

    def validation_images(self, batch) -> dict[str, torch.Tensor]:
        """The MLflow sample grid's columns (bfrbench.training.sample_grid): input and reconstruction."""
        return {"HQ (input)": batch["hq"], "reconstruction": self.vqgan(batch["hq"])[0]}

    def on_save_checkpoint(self, checkpoint):
        checkpoint["batches"] = self.batches

    def on_load_checkpoint(self, checkpoint):
        self.batches = int(checkpoint.get("batches", 0))

    def configure_optimizers(self):
        o = self.hparams.optim
        opt_g = torch.optim.Adam(self.vqgan.parameters(), lr=o["lr"], betas=(0.5, 0.9))
        opt_d = torch.optim.Adam(self.disc.parameters(), lr=o["lr_disc"], betas=(0.5, 0.9))
        return [opt_g, opt_d]
