"""The improved-DDPM UNet (noise predictor of DifFace's diffusion prior), timestep-conditioned, with learned sigma.

Written for bfrbench from the structure of DifFace's public `models/unet.py` (itself from openai/improved-diffusion)
so that `iddpm_ffhq512_ema500000.pth` loads with strict=True (tests/methods/data/difface_iddpm_ffhq512_keys.json).
DifFace's variant takes `num_res_blocks` per level and `attention_resolutions` as absolute feature sizes.
Official: image 512, 32 channels, mult (1, 2, 4, 8, 8, 16, 16), blocks (1, 2, 2, 2, 2, 3, 4), attention at 32/16/8,
64 channels per head, scale-shift norm, 6 output channels (eps + variance interpolation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 (as the original, for fp16 safety)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: int = 10000) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1) if dim % 2 else emb


class ResBlock(nn.Module):
    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = True, groups: int = 32):
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(GroupNorm32(groups, channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        emb_out = 2 * out_channels if use_scale_shift_norm else out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))
        self.out_layers = nn.Sequential(GroupNorm32(groups, out_channels), nn.SiLU(), nn.Dropout(dropout),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        nn.init.zeros_(self.out_layers[3].weight)  # zero_module: every block starts as the identity
        nn.init.zeros_(self.out_layers[3].bias)
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        emb_out = self.emb_layers(emb).type(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over positions; heads are split before q/k/v (the 'legacy' order)."""

    def __init__(self, channels: int, num_head_channels: int = 64, groups: int = 32):
        super().__init__()
        if channels % num_head_channels:
            raise ValueError(f"{channels} channels are not divisible by num_head_channels {num_head_channels}")
        self.num_heads = channels // num_head_channels
        self.norm = GroupNorm32(groups, channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        length = qkv.shape[-1]
        ch = c // self.num_heads
        q, k, v = qkv.reshape(b * self.num_heads, ch * 3, length).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        weight = torch.softmax(torch.einsum("bct,bcs->bts", q * scale, k * scale).float(), dim=-1).type(q.dtype)
        h = torch.einsum("bts,bcs->bct", weight, v).reshape(b, -1, length)
        return (x + self.proj_out(h)).reshape(b, c, *spatial)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class TimestepSequential(nn.Sequential):
    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class IDDPMUNet(nn.Module):
    def __init__(self, image_size: int = 512, in_channels: int = 3, model_channels: int = 32, out_channels: int = 6,
                 num_res_blocks: int | Sequence[int] = (1, 2, 2, 2, 2, 3, 4),
                 attention_resolutions: Sequence[int] = (32, 16, 8), dropout: float = 0.0,
                 channel_mult: Sequence[int] = (1, 2, 4, 8, 8, 16, 16), num_head_channels: int = 64,
                 use_scale_shift_norm: bool = True, norm_groups: int = 32):
        super().__init__()
        blocks = [num_res_blocks] * len(channel_mult) if isinstance(num_res_blocks, int) else list(num_res_blocks)
        if len(blocks) != len(channel_mult):
            raise ValueError(f"num_res_blocks {blocks} needs one entry per channel_mult level {list(channel_mult)}")
        self.model_channels, self.image_size = model_channels, image_size
        self.factor = 2 ** (len(channel_mult) - 1)
        emb_dim = model_channels * 4
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        g, hc, ss = norm_groups, num_head_channels, use_scale_shift_norm

        ch = input_ch = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(in_channels, ch, 3, padding=1))])
        skip_chans, ds = [ch], image_size
        for level, mult in enumerate(channel_mult):
            for _ in range(blocks[level]):
                layers: list[nn.Module] = [ResBlock(ch, emb_dim, dropout, int(mult * model_channels), ss, g)]
                ch = int(mult * model_channels)
                if ds in attention_resolutions:
                    layers.append(AttentionBlock(ch, hc, g))
                self.input_blocks.append(TimestepSequential(*layers))
                skip_chans.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(TimestepSequential(Downsample(ch)))
                skip_chans.append(ch)
                ds //= 2
        self.middle_block = TimestepSequential(ResBlock(ch, emb_dim, dropout, None, ss, g), AttentionBlock(ch, hc, g),
                                               ResBlock(ch, emb_dim, dropout, None, ss, g))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(blocks[level] + 1):
                layers = [ResBlock(ch + skip_chans.pop(), emb_dim, dropout, int(model_channels * mult), ss, g)]
                ch = int(model_channels * mult)
                if ds in attention_resolutions:
                    layers.append(AttentionBlock(ch, hc, g))
                if level and i == blocks[level]:
                    layers.append(Upsample(ch))
                    ds *= 2
                self.output_blocks.append(TimestepSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(g, ch), nn.SiLU(), nn.Conv2d(input_ch, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """x in [-1, 1] (B x C x H x W, H and W divisible by 2**(levels-1)), timesteps on the 0..T-1 scale."""
        if x.shape[-1] % self.factor or x.shape[-2] % self.factor:
            raise ValueError(f"input size {tuple(x.shape[-2:])} must be divisible by {self.factor}")
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels))
        hs, h = [], x
        for module in self.input_blocks:
            h = module(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for module in self.output_blocks:
            h = module(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)
