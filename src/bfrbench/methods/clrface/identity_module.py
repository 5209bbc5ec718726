"""Stage `identity`: trains the Identity Recovery Network and the latent mask (frozen VQGAN and recogniser).

- IRN loss: 1 - cos(IRN(LQ), FR(HQ)), FR = the frozen face-recognition net on the HQ face.
- Mask loss: swap the masked features of the degraded latent for the clean ones,
  z_mix = m * z_hq + (1 - m) * z_lq, decode, and ask the recogniser to find the HQ identity in it:
  1 - cos(FR(decode(z_mix)), FR(HQ)) + sparsity * mean(m). The mask thus learns WHICH latent features carry
  identity detail in pixel space, under a budget; the guidance later edits only those.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from bfrbench.methods.clrface.face_id import FaceIdentity
from bfrbench.methods.clrface.irn import IdentityRecoveryNet, LatentMask
from bfrbench.methods.clrface.vqgan import VQGAN


class IdentityModule(L.LightningModule):
    def __init__(self, vqgan: VQGAN, recogniser: nn.Module, irn_backbone: nn.Module, latent_hw: tuple[int, int],
                 loss: dict, optim: dict):
        super().__init__()
        self.save_hyperparameters({"loss": loss, "optim": optim, "latent_hw": list(latent_hw)})
        self.vqgan = vqgan.eval().requires_grad_(False)
        self.face_id = FaceIdentity(recogniser)
        self.irn = IdentityRecoveryNet(irn_backbone.train().requires_grad_(True))
        self.mask = LatentMask(vqgan.embed_dim, *latent_hw, init_logit=loss["mask_init_logit"])

    FROZEN = ("vqgan.", "face_id.")

    def train(self, mode: bool = True):
        super().train(mode)
        self.vqgan.eval()
        self.face_id.train(mode)
        return self

    def state_dict(self, *args, **kwargs):  # checkpoints hold only what this stage trains
        return {k: v for k, v in super().state_dict(*args, **kwargs).items() if not k.startswith(self.FROZEN)}

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        frozen = {k: v for k, v in super().state_dict().items() if k.startswith(self.FROZEN)}
        return super().load_state_dict({**frozen, **state_dict}, strict=strict, **kwargs)

    def losses(self, batch) -> dict[str, torch.Tensor]:
        w = self.hparams.loss
        lq, hq = batch["lq"], batch["hq"]
        with torch.no_grad():
            target = self.face_id.embed(hq)
            z_hq = self.vqgan.quantize(self.vqgan.encode(hq))
            z_lq = self.vqgan.encode(lq)
        irn = (1 - (self.irn(lq) * target).sum(1)).mean()
        m = self.mask.soft()
        mixed = self.vqgan.decode(m * z_hq + (1 - m) * z_lq)
        mask_id = self.face_id.loss(mixed, target)
        sparsity = m.mean()
        total = w["irn_weight"] * irn + w["mask_weight"] * (mask_id + w["mask_sparsity"] * sparsity)
        return {"total": total, "irn": irn, "mask_id": mask_id, "mask_mean": sparsity}

    def training_step(self, batch, batch_idx):
        out = self.losses(batch)
        for k, v in out.items():
            self.log(f"train/{k}", v, prog_bar=k == "total")
        return out["total"]

    def validation_step(self, batch, batch_idx):
        with torch.no_grad():
            target = self.face_id.embed(batch["hq"])
            self.log("val/irn_cos", (self.irn(batch["lq"]) * target).sum(1).mean(), sync_dist=True)
            self.log("val/lq_cos", (self.face_id.embed(batch["lq"]) * target).sum(1).mean(), sync_dist=True)

    def validation_images(self, batch) -> dict[str, torch.Tensor]:
        """The MLflow sample grid's columns (bfrbench.training.sample_grid). The stage's only image is the decode of
        the mask-mixed latent (the HQ face's features where the mask is on, the LQ face's elsewhere), shown beside
        the decode of the LQ latent alone: what the learned mask brings back. Not a restoration (it reads the HQ)."""
        z_hq = self.vqgan.quantize(self.vqgan.encode(batch["hq"]))
        z_lq = self.vqgan.encode(batch["lq"])
        m = self.mask.soft()
        return {"LQ": batch["lq"], "LQ latent": self.vqgan.decode(z_lq),
                "mask mix": self.vqgan.decode(m * z_hq + (1 - m) * z_lq), "HQ": batch["hq"]}

    def configure_optimizers(self):
        o = self.hparams.optim
        return torch.optim.AdamW([
            {"params": self.irn.parameters(), "lr": o["irn_lr"], "weight_decay": o["weight_decay"]},
            {"params": self.mask.parameters(), "lr": o["mask_lr"], "weight_decay": 0.0},
        ])
