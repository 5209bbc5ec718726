"""CLR-Face stage 2 network: a conditional score network over VQGAN latents.

A small U-Net (two resolutions, residual blocks with FiLM-style time conditioning) takes the noisy clean latent
concatenated with the degraded image's latent and predicts the noise eps; the score is -eps / std(t).
Its input is scaled by 1 / sqrt(mean(t)^2 + std(t)^2) so that VE noise levels up to sigma_max stay O(1).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class TimeResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(tdim, 2 * cout)
        self.norm2 = nn.GroupNorm(min(8, cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(temb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class ConditionalScoreNet(nn.Module):
    """eps_theta(x_t, t, c): x_t and c are latents with `latent_channels` channels at the same resolution."""

    def __init__(self, latent_channels: int, channels: list[int], time_dim: int = 128):
        super().__init__()
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, time_dim * 2), nn.SiLU(), nn.Linear(time_dim * 2, time_dim))
        self.inp = nn.Conv2d(2 * latent_channels, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.pools = nn.ModuleList()
        cin = channels[0]
        for i, ch in enumerate(channels):
            self.down.append(TimeResBlock(cin, ch, time_dim))
            self.pools.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1) if i < len(channels) - 1 else nn.Identity())
            cin = ch
        self.mid = TimeResBlock(cin, cin, time_dim)
        self.up = nn.ModuleList()
        for ch in reversed(channels):
            self.up.append(TimeResBlock(cin + ch, ch, time_dim))
            cin = ch
        self.out = nn.Sequential(nn.GroupNorm(min(8, cin), cin), nn.SiLU(),
                                 nn.Conv2d(cin, latent_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, t: torch.Tensor, c_in: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(timestep_embedding(t, self.time_dim))
        h = self.inp(torch.cat([x * c_in.view(-1, 1, 1, 1), cond], dim=1))
        skips = []
        for block, pool in zip(self.down, self.pools):
            h = block(h, temb)
            skips.append(h)
            h = pool(h)
        h = self.mid(h, temb)
        for block in self.up:
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), temb)
        return self.out(h)


class LatentScoreModel(nn.Module):
    """Wraps the network with its SDE: `eps(...)` for training, `score(...)` for sampling."""

    def __init__(self, net: ConditionalScoreNet, sde):
        super().__init__()
        self.net = net
        self.sde = sde

    def eps(self, x: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        mean, std = self.sde.marginal(t)
        return self.net(x, cond, t, torch.rsqrt(mean**2 + std**2))

    def score(self, x: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        std = self.sde.marginal(t)[1]
        return -self.eps(x, cond, t) / std.view(-1, 1, 1, 1)
