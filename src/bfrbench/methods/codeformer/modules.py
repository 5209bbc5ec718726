"""CodeFormer's three training stages as LightningModules (module level so DDP can pickle them).

Images enter the networks in [-1, 1] (CodeFormer's mean 0.5 / std 0.5). GAN stages use manual optimisation; the
discriminator's optimiser is stepped unwrapped so that `trainer.global_step` (and `max_steps`) count generator
steps only, as the official iteration counter does. Every stage keeps an EMA copy, which is what is saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch.nn import functional as F

from bfrbench.archs.codeformer import CodeFormer
from bfrbench.archs.vqgan import VQAutoEncoder, VQGANDiscriminator
from bfrbench.methods.codeformer.losses import (
    adaptive_weight,
    hinge_d_loss,
    hinge_g_loss,
)
from bfrbench.methods.codeformer.perceptual import build_perceptual
from bfrbench.methods.codeformer.phases import phase_at
from bfrbench.training.ema import make_ema, update_ema
from bfrbench.training.schedules import lightning_scheduler, max_steps_of, step_schedulers


def to_signed(x: torch.Tensor) -> torch.Tensor:
    return x * 2 - 1


def psnr01(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mse = torch.mean((pred.clamp(0, 1) - target) ** 2, dim=(1, 2, 3))
    return (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean()


class _Stage(L.LightningModule):
    """Shared optimiser set-up, EMA bookkeeping and validation (EMA network on the fixed val pairs)."""

    def _adam(self, params, optim: Mapping[str, Any]):
        return torch.optim.Adam([p for p in params if p.requires_grad], lr=optim["lr"], betas=tuple(optim["betas"]))

    def _optimizers_with_schedules(self, *param_groups):
        """One Adam per network, each with the stage's schedule (the official trainers schedule every optimizer,
        the discriminator's included)."""
        o = self.hparams.optim
        opts = [self._adam(params, o) for params in param_groups]
        steps = max_steps_of(self)
        return opts, [lightning_scheduler(opt, o.get("schedule"), steps) for opt in opts]

    def _restore_val(self, lq: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # The GAN stages (I and III) share one recipe: L1 (+ LPIPS), a hinge GAN term scaled by the adaptive weight
    # after `disc_start`, one generator step (then the EMA), then one discriminator step.
    def _reconstruction(self, out: torch.Tensor, hq: torch.Tensor) -> torch.Tensor:
        w = self.hparams.losses
        recon = w["l1"] * F.l1_loss(out, hq)
        if self.perceptual is not None:
            recon = recon + w["lpips"] * self.perceptual(out, hq)
        return recon

    def _adversarial(self, out: torch.Tensor, recon: torch.Tensor, last_layer: torch.Tensor,
                     scale: float) -> tuple[torch.Tensor, bool]:
        """The generator's GAN term (zero before `disc_start`) and whether the GAN is on at this step."""
        w = self.hparams.losses
        if self.global_step < self.hparams.disc_start or w["gan"] <= 0:
            return out.new_zeros(()), False
        self.disc.requires_grad_(False)
        g_loss = hinge_g_loss(self.disc(out))
        self.log("train/g_gan", g_loss)
        return adaptive_weight(recon, g_loss, last_layer) * scale * w["gan"] * g_loss, True

    def _generator_then_discriminator(self, total: torch.Tensor, out: torch.Tensor, hq: torch.Tensor,
                                      use_gan: bool) -> None:
        opt_g, _ = self.optimizers()
        _, opt_d = self.optimizers(use_pl_optimizer=False)
        opt_g.zero_grad()
        self.manual_backward(total)
        opt_g.step()
        step_schedulers(self)  # per generator step, the discriminator's too (it follows the iteration count)
        update_ema(self.net_ema, self.net, self.hparams.ema_decay, self.global_step)
        if use_gan:
            self.disc.requires_grad_(True)
            opt_d.zero_grad()
            d_loss = hinge_d_loss(self.disc(hq), self.disc(out.detach()))
            self.manual_backward(d_loss)
            opt_d.step()
            self.log("train/d_hinge", d_loss)

    def validation_step(self, batch, batch_idx):
        pred = (self._restore_val(to_signed(batch["lq"]), to_signed(batch["hq"])) + 1) / 2
        self.log("val/l1", F.l1_loss(pred.clamp(0, 1), batch["hq"]), sync_dist=True)
        self.log("val/psnr_rgb", psnr01(pred, batch["hq"]), sync_dist=True)

    def validation_images(self, batch) -> dict[str, torch.Tensor]:
        """The MLflow sample grid's columns (bfrbench.training.sample_grid): the EMA network's restoration."""
        out = (self._restore_val(to_signed(batch["lq"]), to_signed(batch["hq"])) + 1) / 2
        return {"LQ": batch["lq"], "output": out, "HQ": batch["hq"]}


class VQGANStage(_Stage):
    """Stage I: VQGAN on HQ faces; L1 + LPIPS + codebook loss, hinge GAN with adaptive weight after `disc_start`."""

    def __init__(self, arch: dict, disc: dict, optim: dict, losses: dict, ema_decay: float, disc_start: int):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.net = VQAutoEncoder(**arch)
        self.net_ema = make_ema(self.net)
        self.disc = VQGANDiscriminator(**disc)
        self.perceptual = build_perceptual(losses["lpips"], losses["lpips_weights"])

    def configure_optimizers(self):
        return self._optimizers_with_schedules(self.net.parameters(), self.disc.parameters())

    def training_step(self, batch, batch_idx):
        hq = to_signed(batch["hq"])
        out, l_codebook, _ = self.net(hq)
        recon = self._reconstruction(out, hq)
        gan, use_gan = self._adversarial(out, recon, self.net.generator.blocks[-1].weight,
                                         self.hparams.losses["disc_weight"])
        total = recon + self.hparams.losses["codebook"] * l_codebook + gan
        self._generator_then_discriminator(total, out, hq, use_gan)
        self.log_dict({"train/recon": recon, "train/codebook": l_codebook, "train/total": total}, prog_bar=True)

    def _restore_val(self, lq, hq):
        return self.net_ema(hq)[0]  # stage I reconstructs HQ faces

    def validation_images(self, batch) -> dict[str, torch.Tensor]:
        """An autoencoder: its input and the EMA network's reconstruction."""
        return {"HQ (input)": batch["hq"], "reconstruction": (self._restore_val(None, to_signed(batch["hq"])) + 1) / 2}


def _codeformer_from(arch: dict, vqgan_state: Mapping[str, torch.Tensor]) -> CodeFormer:
    net = CodeFormer(**arch)
    missing, unexpected = net.load_state_dict(vqgan_state, strict=False)
    vq_prefixes = ("encoder.", "quantize.", "generator.")
    if unexpected or any(k.startswith(vq_prefixes) for k in missing):
        raise ValueError(f"stage-I VQGAN does not match the CodeFormer arch: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return net


def _vq_arch(arch: Mapping[str, Any]) -> dict:
    keys = ("img_size", "nf", "ch_mult", "res_blocks", "attn_resolutions", "codebook_size", "emb_dim", "norm_groups")
    return {k: arch[k] for k in keys if k in arch}


class CodePredictionStage(_Stage):
    """Stage II (w=0): predict the HQ code indices from LQ faces; cross-entropy + L2 to the HQ latent."""

    def __init__(self, arch: dict, vqgan_state: dict, optim: dict, losses: dict, ema_decay: float,
                 init_state: dict | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["vqgan_state", "init_state"])
        self.net = _codeformer_from(arch, vqgan_state)
        if init_state is not None:
            self.net.load_state_dict(init_state, strict=True)
        self.net.freeze(("quantize", "generator"))
        self.net_ema = make_ema(self.net)
        self.hq_vqgan = VQAutoEncoder(**_vq_arch(arch))
        self.hq_vqgan.load_state_dict(vqgan_state, strict=True)
        self.hq_vqgan.requires_grad_(False).eval()

    def configure_optimizers(self):
        (opt,), (schedule,) = self._optimizers_with_schedules(self.net.parameters())
        return {"optimizer": opt, "lr_scheduler": schedule}

    def code_losses(self, hq: torch.Tensor, logits: torch.Tensor, lq_feat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cross-entropy to the HQ face's code indices and L2 between LQ features and the HQ codes (the targets
        come from the fixed stage-I VQGAN)."""
        with torch.no_grad():
            idx_gt = self.hq_vqgan.quantize.indices(self.hq_vqgan.encoder(hq))
            quant_gt = self.net.quantize.lookup(idx_gt, lq_feat.shape[2], lq_feat.shape[3])
        w = self.hparams.losses
        return {"ce": w["ce"] * F.cross_entropy(logits.permute(0, 2, 1), idx_gt),
                "feat": w["feat"] * torch.mean((quant_gt - lq_feat) ** 2),
                "code_acc": (logits.argmax(-1) == idx_gt).float().mean().detach()}

    def training_step(self, batch, batch_idx):
        self.hq_vqgan.eval()
        logits, lq_feat = self.net(to_signed(batch["lq"]), w=0, code_only=True)
        terms = self.code_losses(to_signed(batch["hq"]), logits, lq_feat)
        total = terms["ce"] + terms["feat"]
        self.log_dict({f"train/{k}": v for k, v in terms.items()} | {"train/total": total}, prog_bar=True)
        return total

    def optimizer_step(self, *args, **kwargs):
        super().optimizer_step(*args, **kwargs)
        # Right after the step, before on_train_batch_end (where ModelCheckpoint saves): a checkpoint then holds the
        # EMA of the same step as the weights, so a resumed run continues it exactly.
        update_ema(self.net_ema, self.net, self.hparams.ema_decay, self.global_step)

    def _restore_val(self, lq, hq):
        return self.net_ema(lq, w=0)[0]


class CFTStage(CodePredictionStage):
    """Stage III (w=1): train the fusion blocks with L1 + LPIPS + adaptive hinge GAN, keeping the code losses."""

    def __init__(self, arch: dict, vqgan_state: dict, init_state: dict, disc: dict, disc_state: dict | None,
                 optim: dict, losses: dict, ema_decay: float, disc_start: int, w: float,
                 scale_adaptive_gan_weight: float, phases: list | None = None):
        super().__init__(arch, vqgan_state, optim, losses, ema_decay, init_state=init_state)
        self.save_hyperparameters(ignore=["vqgan_state", "init_state", "disc_state"])
        self.automatic_optimization = False
        self.disc = VQGANDiscriminator(**disc)
        if disc_state is not None:
            self.disc.load_state_dict(disc_state, strict=True)
        self.perceptual = build_perceptual(losses["lpips"], losses["lpips_weights"])

    def configure_optimizers(self):
        return self._optimizers_with_schedules(self.net.parameters(), self.disc.parameters())

    def training_step(self, batch, batch_idx):
        self.hq_vqgan.eval()
        hq = to_signed(batch["hq"])
        w, mild = phase_at(self.hparams.phases, self.global_step + 1, max_steps_of(self), self.hparams.w)
        # A mild iteration at w = 0 (the official 120000th) has no trainable path to the image (the fusion layers
        # are off, the decoder is fixed): its image losses carry no gradient and the adaptive GAN weight cannot be
        # computed, so it trains the code losses, as the iterations around it do.
        if not mild or w == 0:  # a large degradation: the code losses only, no image losses, no discriminator step
            logits, lq_feat = self.net(to_signed(batch["lq_b1"]), w=0, code_only=True)
            terms = self.code_losses(hq, logits, lq_feat)
            total = terms["ce"] + terms["feat"]
            self._generator_then_discriminator(total, None, hq, use_gan=False)
            self.log_dict({f"train/{k}": v for k, v in terms.items()} | {"train/total": total}, prog_bar=True)
            return
        out, logits, lq_feat = self.net(to_signed(batch["lq"]), w=w, detach_16=True)
        terms = self.code_losses(hq, logits, lq_feat)
        recon = self._reconstruction(out, hq)
        last = self.net.fuse_convs_dict[self.net.connect_list[-1]].shift[-1].weight
        gan, use_gan = self._adversarial(out, recon, last, self.hparams.scale_adaptive_gan_weight)
        total = terms["ce"] + terms["feat"] + recon + gan
        self._generator_then_discriminator(total, out, hq, use_gan)
        self.log_dict({f"train/{k}": v for k, v in terms.items()} | {"train/recon": recon, "train/total": total},
                      prog_bar=True)

    def _restore_val(self, lq, hq):
        return self.net_ema(lq, w=self.hparams.w, adain=True)[0]
