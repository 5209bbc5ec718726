"""DDIM sampling for FLIPNET (diffusers' DDIMScheduler), separate from the network.

Each image's starting noise comes from its own generator, seeded by (seed, sha256 of the condition image's bytes),
so a face gets the same output whatever batch it is in and the same seed gives bit-identical outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from bfrbench.methods.common import image_seed
from bfrbench.methods.flipnet.adapter import MODES


class DDIMFlipSampler:
    def __init__(self, schedule: Mapping[str, Any], steps: int, eta: float = 0.0, strength: float = 1.0):
        from diffusers import DDIMScheduler

        if not 0.0 < strength <= 1.0:
            raise ValueError(f"sampler.strength must be in (0, 1], got {strength}")
        self.scheduler = DDIMScheduler(**dict(schedule), clip_sample=False, set_alpha_to_one=False, steps_offset=1)
        self.steps, self.eta, self.strength = int(steps), float(eta), float(strength)

    @property
    def nfe(self) -> int:
        """Denoiser (UNet) calls per image: the DDIM steps `strength` keeps."""
        return self.steps if self.strength >= 1.0 else max(1, round(self.strength * self.steps))

    @torch.no_grad()
    def sample(self, model, cond_img: torch.Tensor, mode: str, noise: torch.Tensor) -> torch.Tensor:
        """cond_img (B, 3, R, R) in [0, 1] at the model's resolution; noise (B, C, r, r) -> images in [0, 1]."""
        b = cond_img.shape[0]
        modes = torch.full((b,), MODES[mode], dtype=torch.long, device=cond_img.device)
        z_cond = model.encode(cond_img)
        tokens = model.tokens(cond_img, modes)
        self.scheduler.set_timesteps(self.steps, device=cond_img.device)
        timesteps = self.scheduler.timesteps
        if self.strength < 1.0:  # start from the condition's latent noised to the first kept step (SDEdit-style)
            timesteps = timesteps[len(timesteps) - max(1, round(self.strength * len(timesteps))):]
            z = self.scheduler.add_noise(z_cond, noise, timesteps[:1].repeat(b))
        else:  # pure noise: the paper's setting
            z = noise * self.scheduler.init_noise_sigma
        for t in timesteps:
            eps = model.eps(z, t.to(cond_img.device), z_cond, tokens)
            z = self.scheduler.step(eps, t, z, eta=self.eta).prev_sample
        return model.decode(z).clamp(0, 1)

    def run(self, model, images: np.ndarray, mode: str, seed: int, latent_shape: tuple[int, int, int],
            device: str = "cpu") -> np.ndarray:
        """uint8 (N, H, W, 3) conditions -> uint8 outputs at the same size."""
        from torch.nn import functional as F

        from bfrbench.data.tensors import to_tensor, to_uint8

        noise = torch.stack([torch.randn(latent_shape, generator=torch.Generator().manual_seed(image_seed(seed, img)))
                             for img in images]).to(device)
        x = torch.stack([to_tensor(img) for img in images]).to(device)
        out = self.sample(model, model.to_model_size(x), mode, noise)
        if out.shape[-2:] != x.shape[-2:]:
            out = F.interpolate(out, size=x.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
        return to_uint8(out)
