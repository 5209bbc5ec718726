"""Score-based SDEs (Song et al. 2021) and their reverse-time sampler, separate from any network.

A score function is `score(x, t) -> grad_x log p_t(x)`; the sampler integrates the reverse SDE (Euler-Maruyama,
stochastic) or the probability-flow ODE (deterministic) from t = t_start down to t_eps in `steps` uniform steps,
then takes one Tweedie denoising step. All noise comes from a caller-given torch.Generator: same seed, same output.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from bfrbench.errors import ConfigError


class VESDE:
    """Variance exploding: x_t = x_0 + sigma(t) z, sigma(t) = sigma_min (sigma_max / sigma_min)^t."""

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0):
        self.sigma_min, self.sigma_max = sigma_min, sigma_max

    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean coefficient, std) of x_t given x_0."""
        return torch.ones_like(t), self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def drift_diffusion(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sigma = self.marginal(t)[1]
        return torch.zeros_like(x), sigma * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))


class VPSDE:
    """Variance preserving (DDPM in continuous time): beta(t) = beta_min + t (beta_max - beta_min)."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        self.beta_min, self.beta_max = beta_min, beta_max

    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_mean = -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min
        mean = torch.exp(log_mean)
        return mean, torch.sqrt((1 - torch.exp(2 * log_mean)).clamp_min(1e-12))

    def drift_diffusion(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        beta = self.beta_min + t * (self.beta_max - self.beta_min)
        return -0.5 * _bcast(beta, x) * x, torch.sqrt(beta)


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def make_sde(cfg: dict) -> VESDE | VPSDE:
    kind = cfg.get("kind")
    if kind == "ve":
        return VESDE(float(cfg["sigma_min"]), float(cfg["sigma_max"]))
    if kind == "vp":
        return VPSDE(float(cfg["beta_min"]), float(cfg["beta_max"]))
    raise ConfigError(f"sde.kind: {kind!r}", fix="use ve or vp")


def randn(shape: tuple[int, ...], generator, device) -> torch.Tensor:
    """Normal noise from one generator, or from one generator PER SAMPLE (a list): then a sample's noise does not
    depend on which batch it is in."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != shape[0]:
            raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
        return torch.stack([torch.randn(shape[1:], generator=g) for g in generator]).to(device)
    return torch.randn(shape, generator=generator, device=device)


ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# guidance(x, t, score) -> additive update to x after a predictor step (or None for no change)
GuidanceFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class ReverseSampler:
    sde: VESDE | VPSDE
    steps: int = 50
    method: str = "euler_maruyama"  # or "ode" (probability flow, deterministic)
    t_eps: float = 1e-3
    t_start: float = 1.0  # < 1 starts from the diffused condition (SDEdit-style) instead of pure prior noise

    def __post_init__(self):
        if self.steps < 1:
            raise ConfigError(f"sampler.steps must be >= 1, got {self.steps}")
        if self.method not in ("euler_maruyama", "ode"):
            raise ConfigError(f"sampler.method: {self.method!r}", fix="use euler_maruyama or ode")
        if not 0 < self.t_eps < self.t_start <= 1:
            raise ConfigError(f"sampler: need 0 < t_eps < t_start <= 1, got {self.t_eps}, {self.t_start}")

    def timesteps(self) -> torch.Tensor:
        return torch.linspace(self.t_start, self.t_eps, self.steps + 1)

    def init(self, shape: tuple[int, ...], generator, start: torch.Tensor | None = None,
             device: str | torch.device = "cpu") -> torch.Tensor:
        noise = randn(shape, generator, device)
        if start is None or self.t_start >= 1.0:
            return noise * self.sde.marginal(torch.tensor(1.0))[1]  # the prior N(0, std(1)^2)
        mean, std = self.sde.marginal(torch.tensor(self.t_start))
        return mean * start + std * noise

    @torch.no_grad()
    def sample(self, score: ScoreFn, shape: tuple[int, ...], generator,
               start: torch.Tensor | None = None, guidance: GuidanceFn | None = None,
               device: str | torch.device = "cpu") -> torch.Tensor:
        """Reverse integration; `generator` supplies every random number (pass one seeded per sample)."""
        x = self.init(shape, generator, start, device)
        ts = self.timesteps().to(device)
        for i in range(self.steps):
            t, dt = ts[i], ts[i] - ts[i + 1]
            tb = t.expand(shape[0])
            s = score(x, tb)
            f, g = self.sde.drift_diffusion(x, tb)
            g = _bcast(g, x)
            if self.method == "ode":
                x = x - (f - 0.5 * g**2 * s) * dt
            else:
                z = randn(shape, generator, device)
                x = x - (f - g**2 * s) * dt + g * dt.sqrt() * z
            t_next = ts[i + 1].expand(shape[0])
            if guidance is not None and getattr(guidance, "active", lambda _: True)(t_next):
                s_next = score(x, t_next)  # outside enable_grad: the guidance does not differentiate the score net
                with torch.enable_grad():
                    delta = guidance(x, t_next, s_next)
                if delta is not None:
                    x = x + delta
        return self.denoise(score, x, ts[-1].expand(shape[0]))

    def denoise(self, score: ScoreFn, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Tweedie: E[x_0 | x_t] = (x_t + std^2 score) / mean."""
        mean, std = self.sde.marginal(t)
        return (x + _bcast(std, x) ** 2 * score(x, t)) / _bcast(mean, x)
