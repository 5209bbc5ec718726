"""DifFace's two training stages as LightningModules (module level so DDP can pickle them)."""

from __future__ import annotations

import lightning as L
import torch
from torch.nn import functional as F

from bfrbench.archs.iddpm_unet import IDDPMUNet
from bfrbench.archs.swinir import SwinIRUnshuffle
from bfrbench.methods.difface.diffusion import GaussianDiffusion, linear_betas
from bfrbench.training.ema import make_ema, update_ema
from bfrbench.training.schedules import lightning_scheduler, max_steps_of


def psnr01(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mse = torch.mean((pred.clamp(0, 1) - target) ** 2, dim=(1, 2, 3))
    return (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean()


class EstimatorStage(L.LightningModule):
    """SwinIR regression in [0, 1] with L1 (DifFace's `swinir_restoration512_L1`)."""

    def __init__(self, arch: dict, lr: float, lr_min: float):
        super().__init__()
        self.save_hyperparameters()
        self.net = SwinIRUnshuffle(**arch)

    def training_step(self, batch, batch_idx):
        loss = F.l1_loss(self.net(batch["lq"]), batch["hq"])
        self.log("train/l1", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        pred = self.net(batch["lq"]).clamp(0, 1)
        self.log("val/l1", F.l1_loss(pred, batch["hq"]), sync_dist=True)
        self.log("val/psnr_rgb", psnr01(pred, batch["hq"]), sync_dist=True)

    def validation_images(self, batch) -> dict[str, torch.Tensor]:
        """The MLflow sample grid's columns (bfrbench.training.sample_grid); the prior stage has none (an image
        from it takes a full sampling run)."""
        return {"LQ": batch["lq"], "output": self.net(batch["lq"]), "HQ": batch["hq"]}

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.net.parameters(), lr=self.hparams.lr)
        steps = max(1, int(self.trainer.max_steps)) if self.trainer.max_steps > 0 else 1
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=self.hparams.lr_min)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class PriorStage(L.LightningModule):
    """Unconditional iDDPM on HQ faces in [-1, 1]; uniform timesteps, hybrid loss, EMA (what is saved)."""

    def __init__(self, arch: dict, diffusion_steps: int, lr: float, ema_decay: float, schedule: dict | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.net = IDDPMUNet(**arch)
        self.net_ema = make_ema(self.net)
        self.diffusion = GaussianDiffusion(linear_betas(diffusion_steps))

    def _loss(self, hq: torch.Tensor, net) -> dict[str, torch.Tensor]:
        x0 = hq * 2 - 1
        t = torch.randint(0, self.diffusion.num_timesteps, (x0.shape[0],), device=x0.device)
        return self.diffusion.hybrid_loss(net, x0, t, torch.randn_like(x0))

    def training_step(self, batch, batch_idx):
        terms = self._loss(batch["hq"], self.net)
        self.log_dict({f"train/{k}": v for k, v in terms.items()}, prog_bar=True)
        return terms["loss"]

    def optimizer_step(self, *args, **kwargs):
        super().optimizer_step(*args, **kwargs)
        # Right after the step, before on_train_batch_end (where ModelCheckpoint saves): a checkpoint then holds the
        # EMA of the same step as the weights, so a resumed run continues it exactly.
        update_ema(self.net_ema, self.net, self.hparams.ema_decay, self.global_step)

    def validation_step(self, batch, batch_idx):
        gen = torch.Generator(device="cpu").manual_seed(batch_idx)  # the same draws at every validation
        x0 = batch["hq"] * 2 - 1
        t = torch.randint(0, self.diffusion.num_timesteps, (x0.shape[0],), generator=gen).to(x0.device)
        noise = torch.randn(x0.shape, generator=gen).to(x0.device)
        terms = self.diffusion.hybrid_loss(self.net_ema, x0, t, noise)
        self.log("val/loss", terms["loss"], sync_dist=True)
        self.log("val/mse", terms["mse"], sync_dist=True)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.net.parameters(), lr=self.hparams.lr)
        return {"optimizer": opt,
                "lr_scheduler": lightning_scheduler(opt, self.hparams.schedule, max_steps_of(self))}
