"""CodeFormer's VQGAN (stage I): a convolutional encoder, a nearest-neighbour codebook and a generator.

Written for bfrbench from the structure of CodeFormer's public `vqgan_arch.py` so that the released checkpoints
(`vqgan_code1024.pth`, and the VQGAN part of `codeformer.pth`) load with strict=True: module and parameter names,
block order and shapes are the official ones (tests/methods/data/codeformer_keys.json records them).
The official network is img_size 512, nf 64, ch_mult (1, 2, 2, 4, 4, 8) (x32 down: 16x16 tokens), codebook 1024 x 256.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def group_norm(channels: int, groups: int = 32) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class ResBlock(nn.Module):
    """GroupNorm-swish-conv twice, with a 1x1 `conv_out` shortcut when the width changes."""

    def __init__(self, in_channels: int, out_channels: int | None = None, groups: int = 32):
        super().__init__()
        out_channels = out_channels or in_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = group_norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = group_norm(out_channels, groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        if in_channels != out_channels:
            self.conv_out = nn.Conv2d(in_channels, out_channels, 1, 1, 0)

    def forward(self, x_in: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.silu(self.norm1(x_in)))
        x = self.conv2(F.silu(self.norm2(x)))
        if self.in_channels != self.out_channels:
            x_in = self.conv_out(x_in)
        return x + x_in


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with 1x1 q/k/v/proj_out convolutions."""

    def __init__(self, channels: int, groups: int = 32):
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        b, c, hh, ww = h.shape
        q = self.q(h).reshape(b, c, hh * ww).transpose(1, 2)
        k = self.k(h).reshape(b, c, hh * ww)
        v = self.v(h).reshape(b, c, hh * ww)
        attn = torch.softmax(torch.bmm(q, k) * (c ** -0.5), dim=2)
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(b, c, hh, ww)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Stride-2 3x3 convolution after padding right/bottom by one (as the official VQGAN)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    """`blocks` is one flat ModuleList (its indices are the official key names); `taps` maps a resolution to the
    index of the block after which CodeFormer reads the encoder feature for its fusion (last ResBlock per level)."""

    def __init__(self, nf: int, emb_dim: int, ch_mult: tuple[int, ...], res_blocks: int, resolution: int,
                 attn_resolutions: tuple[int, ...], groups: int = 32):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, nf, 3, 1, 1)]
        self.taps: dict[str, int] = {}
        res, ch = resolution, nf
        in_mult = (1, *ch_mult)
        for level, mult in enumerate(ch_mult):
            ch, out_ch = nf * in_mult[level], nf * mult
            for _ in range(res_blocks):
                blocks.append(ResBlock(ch, out_ch, groups))
                self.taps[str(res)] = len(blocks) - 1
                ch = out_ch
                if res in attn_resolutions:
                    blocks.append(AttnBlock(ch, groups))
            if level != len(ch_mult) - 1:
                blocks.append(Downsample(ch))
                res //= 2
        blocks += [ResBlock(ch, ch, groups), AttnBlock(ch, groups), ResBlock(ch, ch, groups),
                   group_norm(ch, groups), nn.Conv2d(ch, emb_dim, 3, 1, 1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class Generator(nn.Module):
    """Decoder; `taps` maps a resolution to the block after which CodeFormer fuses encoder features (the first
    ResBlock of a level, or its last ResBlock where the level has attention, as in the official indices)."""

    def __init__(self, nf: int, emb_dim: int, ch_mult: tuple[int, ...], res_blocks: int, img_size: int,
                 attn_resolutions: tuple[int, ...], groups: int = 32):
        super().__init__()
        ch = nf * ch_mult[-1]
        res = img_size // 2 ** (len(ch_mult) - 1)
        blocks: list[nn.Module] = [nn.Conv2d(emb_dim, ch, 3, 1, 1), ResBlock(ch, ch, groups), AttnBlock(ch, groups),
                                   ResBlock(ch, ch, groups)]
        self.taps: dict[str, int] = {}
        for level in reversed(range(len(ch_mult))):
            out_ch = nf * ch_mult[level]
            for i in range(res_blocks):
                blocks.append(ResBlock(ch, out_ch, groups))
                if i == 0 or res in attn_resolutions:
                    self.taps[str(res)] = len(blocks) - 1
                ch = out_ch
                if res in attn_resolutions:
                    blocks.append(AttnBlock(ch, groups))
            if level != 0:
                blocks.append(Upsample(ch))
                res *= 2
        blocks += [group_norm(ch, groups), nn.Conv2d(ch, 3, 3, 1, 1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class VectorQuantizer(nn.Module):
    """Nearest-neighbour codebook with the VQ-VAE codebook + commitment loss and a straight-through gradient."""

    def __init__(self, codebook_size: int, emb_dim: int, beta: float = 0.25):
        super().__init__()
        self.codebook_size, self.emb_dim, self.beta = codebook_size, emb_dim, beta
        self.embedding = nn.Embedding(codebook_size, emb_dim)
        self.embedding.weight.data.uniform_(-1.0 / codebook_size, 1.0 / codebook_size)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """B x C x H x W features -> B x (H*W) nearest code indices."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, self.emb_dim)
        w = self.embedding.weight
        d = flat.pow(2).sum(1, keepdim=True) + w.pow(2).sum(1) - 2 * flat @ w.t()
        return d.argmin(1).view(z.shape[0], -1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
        idx = self.indices(z)
        z_q = self.lookup(idx, z.shape[2], z.shape[3])
        loss = torch.mean((z_q.detach() - z) ** 2) + self.beta * torch.mean((z_q - z.detach()) ** 2)
        z_q = z + (z_q - z).detach()
        return z_q, loss, {"min_encoding_indices": idx}

    def lookup(self, idx: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """B x (H*W) indices -> B x C x H x W code vectors."""
        return self.embedding(idx).view(idx.shape[0], h, w, self.emb_dim).permute(0, 3, 1, 2).contiguous()


class VQAutoEncoder(nn.Module):
    def __init__(self, img_size: int = 512, nf: int = 64, ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4, 8),
                 res_blocks: int = 2, attn_resolutions: tuple[int, ...] = (16,), codebook_size: int = 1024,
                 emb_dim: int = 256, beta: float = 0.25, norm_groups: int = 32):
        super().__init__()
        self.img_size, self.nf, self.ch_mult = img_size, nf, tuple(ch_mult)
        self.codebook_size, self.emb_dim = codebook_size, emb_dim
        self.latent_side = img_size // 2 ** (len(ch_mult) - 1)
        attn = tuple(attn_resolutions)
        self.encoder = Encoder(nf, emb_dim, self.ch_mult, res_blocks, img_size, attn, norm_groups)
        self.quantize = VectorQuantizer(codebook_size, emb_dim, beta)
        self.generator = Generator(nf, emb_dim, self.ch_mult, res_blocks, img_size, attn, norm_groups)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
        quant, codebook_loss, stats = self.quantize(self.encoder(x))
        return self.generator(quant), codebook_loss, stats


class VQGANDiscriminator(nn.Module):
    """PatchGAN discriminator of CodeFormer's stage I and III (BatchNorm, LeakyReLU 0.2)."""

    def __init__(self, nc: int = 3, ndf: int = 64, n_layers: int = 4):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult),
                       nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=False), nn.BatchNorm2d(ndf * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)
