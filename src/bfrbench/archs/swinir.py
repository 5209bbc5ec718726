"""SwinIR with pixel-unshuffle input: DifFace's diffused estimator (a full-size in, full-size out restorer).

Written for bfrbench from the structure of DifFace's public `models/swinir.py` (SwinIR, `unshuffle=True`) so that
`swinir_restoration512_L1.pth` loads with strict=True (tests/methods/data/difface_swinir512_keys.json). The input
is pixel-unshuffled by `sf` (512 -> 64 x 64 tokens of 192 channels), processed by residual Swin groups and brought
back to full size by nearest+conv upsampling. Official: embed 180, 8 groups of 6 blocks, 6 heads, window 8, MLP
ratio 2, sf 8, img_size 64 (the token grid: the shifted-window masks are buffers of that size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import StochasticDepth

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # SwinIR subtracts this fixed mean (not a buffer: absent from checkpoints)


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


def shift_mask(h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """(nW, ws*ws, ws*ws) additive mask that keeps shifted windows from mixing regions that were not adjacent."""
    img = torch.zeros(1, h, w, 1)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            img[:, hs, wsl, :] = cnt
            cnt += 1
    win = window_partition(img, ws).squeeze(-1)
    mask = win.unsqueeze(1) - win.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, ws: int, num_heads: int):
        super().__init__()
        self.num_heads, self.scale = num_heads, (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * ws - 1) + rel[..., 1])
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b // nw, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        return self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, resolution: int, num_heads: int, ws: int, shift: int, mlp_ratio: float,
                 drop_path: float = 0.0):
        super().__init__()
        # stochastic depth on both residual branches, per sample (timm's DropPath, as SwinIR; identity in eval)
        self.drop_path = StochasticDepth(drop_path, "row") if drop_path > 0 else nn.Identity()
        if resolution <= ws:  # one window covers the grid: no shift (as the original)
            ws, shift = resolution, 0
        self.resolution, self.ws, self.shift = resolution, ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.register_buffer("attn_mask", shift_mask(resolution, resolution, ws, shift) if shift else None)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        h, w = hw
        b, _, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), (1, 2))
        mask = None
        if self.shift:
            same_size = hw == (self.resolution,) * 2
            mask = self.attn_mask if same_size else shift_mask(h, w, self.ws, self.shift).to(x.device)
        y = window_reverse(self.attn(window_partition(y, self.ws), mask), self.ws, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), (1, 2))
        x = x + self.drop_path(y.reshape(b, h * w, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ResidualGroup(nn.Module):
    def __init__(self, dim: int, resolution: int, depth: int, num_heads: int, ws: int, mlp_ratio: float,
                 drop_paths: Sequence[float] = ()):
        super().__init__()
        rates = list(drop_paths) or [0.0] * depth
        self.blocks = nn.ModuleList(SwinBlock(dim, resolution, num_heads, ws, 0 if i % 2 == 0 else ws // 2, mlp_ratio,
                                              rates[i])
                                    for i in range(depth))

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x, hw)
        return x


class RSTB(nn.Module):
    """Residual Swin Transformer block: a group of Swin blocks, a 3x3 conv, and a skip connection."""

    def __init__(self, dim: int, resolution: int, depth: int, num_heads: int, ws: int, mlp_ratio: float,
                 drop_paths: Sequence[float] = ()):
        super().__init__()
        self.residual_group = ResidualGroup(dim, resolution, depth, num_heads, ws, mlp_ratio, drop_paths)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        y = self.residual_group(x, hw)
        y = self.conv(y.transpose(1, 2).reshape(x.shape[0], -1, *hw))
        return y.flatten(2).transpose(1, 2) + x


class PatchNorm(nn.Module):
    """SwinIR's `patch_embed` with patch size 1: flatten to tokens, LayerNorm (keys patch_embed.norm.*)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


class SwinIRUnshuffle(nn.Module):
    def __init__(self, img_size: int = 64, embed_dim: int = 180, depths: Sequence[int] = (6,) * 8,
                 num_heads: Sequence[int] = (6,) * 8, window_size: int = 8, mlp_ratio: float = 2.0, sf: int = 8,
                 num_feat: int = 64, drop_path_rate: float = 0.0):
        super().__init__()
        if sf not in (2, 4, 8):
            raise ValueError(f"sf must be 2, 4 or 8, got {sf}")
        self.sf, self.window_size, self.img_size = sf, window_size, img_size
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_first = nn.Sequential(nn.PixelUnshuffle(sf), nn.Conv2d(3 * sf * sf, embed_dim, 3, 1, 1))
        self.patch_embed = PatchNorm(embed_dim)
        # SwinIR's stochastic depth: rates rising linearly from 0 to drop_path_rate over all blocks
        rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()  # (also under a meta device)
        starts = [sum(depths[:i]) for i in range(len(depths))]
        self.layers = nn.ModuleList(RSTB(embed_dim, img_size, d, h, window_size, mlp_ratio, rates[s:s + d])
                                    for d, h, s in zip(depths, num_heads, starts))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU(inplace=True))
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        if sf >= 4:
            self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        if sf == 8:
            self.conv_up3 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B x 3 x H x W in [0, 1], H and W divisible by sf * window_size; output the same size."""
        h, w = x.shape[-2:]
        step = self.sf * self.window_size
        if h % step or w % step:
            raise ValueError(f"input size {h}x{w} must be divisible by sf * window_size = {step}")
        x = self.conv_first(x - self.mean)
        hw = (x.shape[2], x.shape[3])
        t = self.patch_embed(x)
        for layer in self.layers:
            t = layer(t, hw)
        t = self.norm(t).transpose(1, 2).reshape(x.shape[0], -1, *hw)
        x = self.conv_before_upsample(self.conv_after_body(t) + x)
        for i in range(int(math.log2(self.sf))):
            x = F.leaky_relu(getattr(self, f"conv_up{i + 1}")(F.interpolate(x, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(x), 0.2)) + self.mean
