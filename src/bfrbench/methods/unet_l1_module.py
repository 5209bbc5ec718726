"""The LightningModule of `unet_l1`'s single training stage (module level so DDP can pickle it)."""

from __future__ import annotations

import lightning as L
import torch

from bfrbench.archs.unet import PlainUNet


class UNetL1Module(L.LightningModule):
    def __init__(self, channels: list[int], lr: float, weight_decay: float):
        super().__init__()
        self.save_hyperparameters()
        self.net = PlainUNet(channels=tuple(channels))

    def forward(self, lq: torch.Tensor) -> torch.Tensor:
        return self.net(lq)

    def training_step(self, batch, batch_idx):
        loss = torch.nn.functional.l1_loss(self.net(batch["lq"]), batch["hq"])
        self.log("train/l1", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        pred = self.net(batch["lq"]).clamp(0, 1)
        mse = torch.mean((pred - batch["hq"]) ** 2, dim=(1, 2, 3))
        self.log("val/l1", torch.nn.functional.l1_loss(pred, batch["hq"]), sync_dist=True)
        self.log("val/psnr_rgb", (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean(), sync_dist=True)

    def validation_images(self, batch) -> dict[str, torch.Tensor]:
        """The MLflow sample grid's columns (bfrbench.training.sample_grid)."""
        return {"LQ": batch["lq"], "output": self.net(batch["lq"]), "HQ": batch["hq"]}

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
