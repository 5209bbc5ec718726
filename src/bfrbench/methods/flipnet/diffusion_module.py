"""The LightningModule of FLIPNET's diffusion stage: both modes in every batch, one set of weights.

Naive pairs only (`data.real_pairs` null): per sample, a mode is drawn (degrade with probability `p_degrade`).
With real pairs (the paper's setting): the face batch trains the Restoration mode (each face in Degradation mode with
probability `p_naive_in_degrade`, null = 0) and the real-pair batch (bfrbench.data.real_pairs: Dense-Haze, LOL, SIDD,
RealBlur) trains the Degradation mode; `p_degrade` must then be null, the share being the real batch's. Either way the
target latent is noised at a uniform timestep and the UNet predicts the noise (L_ldm). Restoration-mode samples add
MSE + perceptual on the decoded x0 prediction against the HQ face; degradation-mode samples use L_ldm only (a
secondary source, see "Losses" in docs/methods/flipnet.md). How many pairs of each real set were seen is logged
(`train/real_pairs_seen/NAME`, summed over processes, kept in checkpoints) and lands in the card's final_metrics."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.nn import functional as F

from bfrbench.errors import ConfigError
from bfrbench.methods.flipnet.adapter import MODES
from bfrbench.methods.flipnet.model import roles


class FlipNetDiffusionModule(L.LightningModule):
    uses_real_pairs = True  # the stage runner refuses data.real_pairs for a module without this

    def __init__(self, model, schedule: dict[str, Any], loss: dict[str, Any], optim: dict[str, Any], perceptual=None):
        super().__init__()
        from diffusers import DDPMScheduler

        self.model = model
        self.noise_scheduler = DDPMScheduler(**schedule)
        self.loss_cfg, self.optim_cfg = dict(loss), dict(optim)
        self.perceptual = perceptual
        self.register_buffer("alphas_cumprod", self.noise_scheduler.alphas_cumprod.clone().float(), persistent=False)
        self.real_pairs_seen: list[int] | None = None  # per real set, over all processes (see the docstring)

    def losses(self, hq: torch.Tensor, lq: torch.Tensor, mode: torch.Tensor, noise: torch.Tensor,
               t: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model
        hq, lq = m.to_model_size(hq), m.to_model_size(lq)
        target, cond = roles(hq, lq, mode)
        with torch.no_grad():
            z0, zc = m.encode(target), m.encode(cond)
        abar = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        z_t = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
        eps = m.eps(z_t, t, zc, m.tokens(cond, mode))
        ldm = F.mse_loss(eps, noise, reduction="none").mean(dim=(1, 2, 3))
        out = {"ldm": ldm.mean(), "loss": ldm.mean()}
        restore = mode == MODES["restore"]
        w = self.loss_cfg
        if bool(restore.any()) and (w["x0_mse"] > 0 or w["x0_perceptual"] > 0):
            z0_hat = (z_t[restore] - (1 - abar[restore]).sqrt() * eps[restore]) / abar[restore].sqrt()
            x0 = m.decode(z0_hat)
            frac = restore.float().mean()  # the pixel terms average over restoration samples only
            mse = F.mse_loss(x0, hq[restore])
            out["x0_mse"] = mse
            out["loss"] = out["loss"] + frac * w["x0_mse"] * mse
            if self.perceptual is not None and w["x0_perceptual"] > 0:
                perc = self.perceptual(x0.clamp(0, 1), hq[restore])
                out["x0_perceptual"] = perc
                out["loss"] = out["loss"] + frac * w["x0_perceptual"] * perc
        return out

    def _draw(self, b: int, z_shape: tuple[int, ...]):
        dev = self.device
        mode = (torch.rand(b, device=dev) < self.loss_cfg["p_degrade"]).long()
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (b,), device=dev)
        noise = torch.randn((b, *z_shape), device=dev)
        return mode, noise, t

    def latent_shape(self) -> tuple[int, int, int]:
        vae = self.model.vae
        r = self.model.resolution // 2 ** (len(vae.config.block_out_channels) - 1)
        return (int(vae.config.latent_channels), r, r)

    def training_step(self, batch, batch_idx):
        if "paired" in batch:  # the DataModule's dict of loaders: faces + real pairs
            if "real_pairs" not in batch:
                raise ConfigError("flipnet/diffusion: the data module gave no real pairs with its face batches",
                                  fix="set data.real_pairs, or remove data.real_lq (unused by this stage)")
            return self._real_pairs_step(batch["paired"], batch["real_pairs"])
        mode, noise, t = self._draw(batch["hq"].shape[0], self.latent_shape())
        out = self.losses(batch["hq"], batch["lq"], mode, noise, t)
        for k, v in out.items():
            self.log(f"train/{k}", v, prog_bar=k == "loss")
        return out["loss"]

    def _real_pairs_step(self, faces: dict, real: dict):
        b, r, dev = faces["hq"].shape[0], real["hq"].shape[0], self.device
        p_naive = self.loss_cfg.get("p_naive_in_degrade") or 0.0
        naive_mode = (torch.rand(b, device=dev) < p_naive).long() * MODES["degrade"]
        mode = torch.cat([naive_mode, torch.full((r,), MODES["degrade"], dtype=torch.long, device=dev)])
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (b + r,), device=dev)
        noise = torch.randn((b + r, *self.latent_shape()), device=dev)
        out = self.losses(torch.cat([faces["hq"], real["hq"]]), torch.cat([faces["lq"], real["lq"]]), mode, noise, t)
        for k, v in out.items():
            self.log(f"train/{k}", v, prog_bar=k == "loss")
        self._count_real_pairs(real["set"])
        return out["loss"]

    def _count_real_pairs(self, sets: torch.Tensor) -> None:
        names = self.trainer.datamodule.real_pairs_set.set_names
        if self.real_pairs_seen is None:
            self.real_pairs_seen = [0] * len(names)
        counts = torch.bincount(sets.to(self.device).long(), minlength=len(names)).float()
        counts = self.trainer.strategy.reduce(counts, reduce_op="sum")  # every process's pairs, the same on each
        for i, name in enumerate(names):
            self.real_pairs_seen[i] += int(counts[i].item())
            self.log(f"train/real_pairs_seen/{name}", float(self.real_pairs_seen[i]))

    def on_save_checkpoint(self, checkpoint) -> None:
        if self.real_pairs_seen is not None:
            checkpoint["real_pairs_seen"] = list(self.real_pairs_seen)

    def on_load_checkpoint(self, checkpoint) -> None:
        if checkpoint.get("real_pairs_seen") is not None:
            self.real_pairs_seen = [int(n) for n in checkpoint["real_pairs_seen"]]

    def validation_step(self, batch, batch_idx):
        b = batch["hq"].shape[0]
        g = torch.Generator(device="cpu").manual_seed(batch_idx)
        noise = torch.randn((b, *self.latent_shape()), generator=g).to(self.device)
        t = torch.full((b,), self.noise_scheduler.config.num_train_timesteps // 2, device=self.device)
        for name, idx in MODES.items():
            mode = torch.full((b,), idx, dtype=torch.long, device=self.device)
            self.log(f"val/ldm_{name}", self.losses(batch["hq"], batch["lq"], mode, noise, t)["ldm"], sync_dist=True)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.optim_cfg["lr"], weight_decay=self.optim_cfg["weight_decay"])

    def state_dict(self, *args, **kwargs):
        # Checkpoints hold what trains (LoRA, BoostHub, adapter); the frozen backbone is rebuilt from its source.
        full = super().state_dict(*args, **kwargs)
        keep = {f"model.{k}" for k in self.model.trainable_names()}
        return type(full)((k, v) for k, v in full.items() if k in keep)

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        self.model.load_trainable({k[len("model."):]: v for k, v in state_dict.items()})
