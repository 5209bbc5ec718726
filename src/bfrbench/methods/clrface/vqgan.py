"""CLR-Face stage 1 network: a VQGAN with LOW compression (x4 by default) so identity detail survives in the latent.

Encoder/decoder follow the taming-transformers layout (residual blocks with GroupNorm + SiLU, strided-conv
down-sampling, nearest up-sampling) at a configurable width; the quantizer is a nearest-neighbour codebook with a
straight-through gradient, codebook + beta * commitment loss (van den Oord et al.).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from bfrbench.errors import ConfigError


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, ch // 4) if ch >= 8 else 1, ch, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(_norm(cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1),
                                  _norm(cout), nn.SiLU(), nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


def levels_for(downsample: int, channels: list[int]) -> int:
    """Number of x2 down-samplings; `channels` lists one width per resolution level (len = levels + 1)."""
    levels = int(round(math.log2(downsample)))
    if downsample < 1 or 2**levels != downsample:
        raise ConfigError(f"vqgan.downsample must be a power of two, got {downsample}")
    if len(channels) != levels + 1:
        raise ConfigError(f"vqgan.channels needs {levels + 1} widths for downsample x{downsample}, got {channels}",
                          fix="give one width per resolution level, e.g. [64, 128, 256] for x4")
    return levels


class Encoder(nn.Module):
    def __init__(self, channels: list[int], downsample: int, embed_dim: int, res_blocks: int = 1):
        super().__init__()
        levels = levels_for(downsample, channels)
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 3, padding=1)]
        cin = channels[0]
        for i, ch in enumerate(channels):
            for _ in range(res_blocks):
                layers.append(ResBlock(cin, ch))
                cin = ch
            if i < levels:
                layers.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        layers += [ResBlock(cin, cin), _norm(cin), nn.SiLU(), nn.Conv2d(cin, embed_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


class Decoder(nn.Module):
    def __init__(self, channels: list[int], downsample: int, embed_dim: int, res_blocks: int = 1):
        super().__init__()
        levels = levels_for(downsample, channels)
        rev = list(reversed(channels))
        layers: list[nn.Module] = [nn.Conv2d(embed_dim, rev[0], 3, padding=1), ResBlock(rev[0], rev[0])]
        cin = rev[0]
        for i, ch in enumerate(rev):
            for _ in range(res_blocks):
                layers.append(ResBlock(cin, ch))
                cin = ch
            if i < levels:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1)]
        layers += [_norm(cin), nn.SiLU(), nn.Conv2d(cin, 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Latent -> image in [0, 1] (unclamped during training so the L1 gradient never dies)."""
        return (self.net(z) + 1) / 2


class VectorQuantizer(nn.Module):
    def __init__(self, codebook_size: int, embed_dim: int, beta: float = 0.25):
        super().__init__()
        self.beta = beta
        self.codebook = nn.Embedding(codebook_size, embed_dim)
        self.codebook.weight.data.uniform_(-1.0 / codebook_size, 1.0 / codebook_size)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        w = self.codebook.weight
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ w.t() + w.pow(2).sum(1)[None]
        return dist.argmin(1).view(z.shape[0], z.shape[2], z.shape[3])

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        return self.codebook(idx).permute(0, 3, 1, 2).contiguous()

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(straight-through quantized z, codebook + beta * commitment loss, code indices)."""
        idx = self.indices(z)
        zq = self.lookup(idx)
        loss = F.mse_loss(zq, z.detach()) + self.beta * F.mse_loss(z, zq.detach())
        return z + (zq - z).detach(), loss, idx


class VQGAN(nn.Module):
    def __init__(self, channels: list[int], downsample: int = 4, embed_dim: int = 8, codebook_size: int = 1024,
                 res_blocks: int = 1, beta: float = 0.25):
        super().__init__()
        self.downsample = downsample
        self.embed_dim = embed_dim
        self.encoder = Encoder(channels, downsample, embed_dim, res_blocks)
        self.quantizer = VectorQuantizer(codebook_size, embed_dim, beta)
        self.decoder = Decoder(channels, downsample, embed_dim, res_blocks)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous (pre-quantization) latent of an image in [0, 1]."""
        return self.encoder(x)

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        return self.quantizer.lookup(self.quantizer.indices(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zq, qloss, _ = self.quantizer(self.encode(x))
        return self.decode(zq), qloss


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix / taming NLayerDiscriminator layout): one real/fake logit per overlapping patch."""

    def __init__(self, channels: int = 64, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = channels
        for i in range(1, layers + 1):
            out = channels * min(2**i, 8)
            mods += [nn.Conv2d(ch, out, 4, 2 if i < layers else 1, 1, bias=False), nn.BatchNorm2d(out),
                     nn.LeakyReLU(0.2, True)]
            ch = out
        mods.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)
