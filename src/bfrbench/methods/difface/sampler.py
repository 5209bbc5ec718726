"""DifFace's sampler: diffuse the estimator's output to t0, then denoise with the prior by respaced DDIM steps.

As the official `sample_func_ir_aligned` + `ddim_sample_loop` (timestep_respacing 'ddim250', start step 100,
eta 0.5): the T-step schedule is respaced to `respacing` evenly strided steps (DDIM striding); the estimate is
diffused to respaced index `start_step` (t0 = 400 of 1000 by default) and denoised through indices
start_step-1 ... 0, i.e. `start_step` network evaluations. The network gets the original timestep (0..T-1).
Noise is drawn per image from its own generator, so results do not depend on batch composition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bfrbench.methods.difface.diffusion import GaussianDiffusion


def ddim_timesteps(num_timesteps: int, count: int) -> list[int]:
    """DDIM striding: range(0, T, stride) for the stride that yields exactly `count` steps."""
    for stride in range(1, num_timesteps):
        if len(range(0, num_timesteps, stride)) == count:
            return list(range(0, num_timesteps, stride))
    if count == num_timesteps:
        return list(range(num_timesteps))
    raise ValueError(f"cannot make exactly {count} evenly strided steps out of {num_timesteps}")


@dataclass(frozen=True)
class SamplerConfig:
    respacing: int = 250
    start_step: int = 100
    eta: float = 0.5

    def validate(self, num_timesteps: int) -> None:
        if not 0 < self.start_step < self.respacing <= num_timesteps:
            raise ValueError(f"need 0 < start_step ({self.start_step}) < respacing ({self.respacing}) "
                             f"<= T ({num_timesteps})")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")


class DifFaceSampler:
    def __init__(self, diffusion: GaussianDiffusion, config: SamplerConfig = SamplerConfig()):
        config.validate(diffusion.num_timesteps)
        self.config = config
        self.timesteps = ddim_timesteps(diffusion.num_timesteps, config.respacing)
        ac = diffusion.alphas_cumprod[self.timesteps]
        self.alphas_cumprod = ac
        self.alphas_cumprod_prev = np.append(1.0, ac[:-1])

    @property
    def t0(self) -> int:
        """The original-scale timestep the estimate is diffused to."""
        return self.timesteps[self.config.start_step]

    @staticmethod
    def _noise(gens: list[torch.Generator], like: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.randn(like.shape[1:], generator=g) for g in gens]).to(like.device, like.dtype)

    @torch.no_grad()
    def __call__(self, prior, x0_hat: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        """x0_hat: the estimator's output in [-1, 1]; returns the restored batch in [-1, 1]."""
        if len(seeds) != x0_hat.shape[0]:
            raise ValueError(f"{len(seeds)} seeds for a batch of {x0_hat.shape[0]}")
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        s0 = self.config.start_step
        a0 = float(self.alphas_cumprod[s0])
        x = a0 ** 0.5 * x0_hat + (1 - a0) ** 0.5 * self._noise(gens, x0_hat)
        c = x0_hat.shape[1]
        for i in reversed(range(s0)):
            t = torch.full((x.shape[0],), self.timesteps[i], device=x.device, dtype=torch.long)
            eps = prior(x, t)[:, :c]
            a, a_prev = float(self.alphas_cumprod[i]), float(self.alphas_cumprod_prev[i])
            x0 = ((1 / a) ** 0.5 * x - (1 / a - 1) ** 0.5 * eps).clamp(-1, 1)
            sigma = self.config.eta * ((1 - a_prev) / (1 - a)) ** 0.5 * (1 - a / a_prev) ** 0.5
            x = x0 * a_prev ** 0.5 + (1 - a_prev - sigma ** 2) ** 0.5 * eps
            if i > 0:
                x = x + sigma * self._noise(gens, x)
        return x
