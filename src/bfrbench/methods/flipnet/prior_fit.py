"""Smoke-only stand-in for the pretrained prior: fit the randomly initialised UNet as a latent denoiser first.

FLIPNET adapts a PRETRAINED Stable Diffusion UNet with LoRA and BoostHub; a frozen random UNet is no prior, and LoRA
on it cannot learn to denoise. So with `backbone.source: config` the small UNet is first trained the way SD was
(epsilon prediction on VAE latents, here of the training faces, HQ and LQ alike, with zero text tokens), then frozen.
The VAE's latent scaling factor is set from the data first (1 / std of the latents, how SD's 0.18215 was chosen).
With `source: pretrained` none of this runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.nn import functional as F


def _latents(vae, batch: dict, resolution: int) -> torch.Tensor:
    from bfrbench.methods.flipnet.embedding_module import resize_batch

    b = resize_batch(batch, resolution)
    with torch.no_grad():
        return vae.encode(torch.cat([b["hq"], b["lq"]]) * 2 - 1).latent_dist.mean


def calibrate_latent_scale(vae, dm, resolution: int, seed: int) -> float:
    from bfrbench.methods.flipnet.vae_fit import _sampler

    loader = torch.utils.data.DataLoader(dm.train_set, batch_size=16, sampler=_sampler(len(dm.train_set), seed))
    z = _latents(vae, next(iter(loader)), resolution)
    scale = float(1.0 / z.std().clamp_min(1e-6))
    vae.register_to_config(scaling_factor=scale)
    return scale


def fit_unet_prior(unet, vae, dm, cfg: Mapping[str, Any], schedule: Mapping[str, Any], seed: int,
                   resolution: int) -> dict[str, Any]:
    from diffusers import DDPMScheduler

    from bfrbench.methods.flipnet.vae_fit import _sampler

    sched = DDPMScheduler(**dict(schedule))
    abar_all = sched.alphas_cumprod.float()
    scale = float(vae.config.scaling_factor)
    loader = torch.utils.data.DataLoader(dm.train_set, batch_size=int(cfg["batch_size"]),
                                         sampler=_sampler(len(dm.train_set), seed + 1))
    opt = torch.optim.AdamW(unet.parameters(), lr=float(cfg["lr"]))
    unet.train()
    step, first, last = 0, None, None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        while step < int(cfg["steps"]):
            for batch in loader:
                z0 = _latents(vae, batch, resolution) * scale
                n = z0.shape[0]
                t = torch.randint(0, sched.config.num_train_timesteps, (n,))
                noise = torch.randn_like(z0)
                abar = abar_all[t].view(-1, 1, 1, 1)
                z_t = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
                tokens = torch.zeros(n, 1, int(unet.config.cross_attention_dim))
                loss = F.mse_loss(unet(z_t, t, encoder_hidden_states=tokens).sample, noise)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                first = float(loss.detach()) if first is None else first
                last = float(loss.detach())
                step += 1
                if step >= int(cfg["steps"]):
                    break
    unet.eval()
    return {"steps": step, "first_loss": first, "last_loss": last, "latent_scaling_factor": scale}
