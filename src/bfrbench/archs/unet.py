"""A plain U-Net for image-to-image regression (residual prediction on top of the input)."""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    groups = 8 if cout % 8 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(groups, cout), nn.SiLU(),
        nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(groups, cout), nn.SiLU(),
    )


class PlainUNet(nn.Module):
    """Encoder-decoder with skip connections; `channels` lists the width at each resolution."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, channels: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        self.config = {"in_channels": in_channels, "out_channels": out_channels, "channels": list(channels)}
        self.stem = _block(in_channels, channels[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.AvgPool2d(2), _block(channels[i], channels[i + 1])) for i in range(len(channels) - 1)
        )
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(channels[i + 1], channels[i], 2, stride=2) for i in reversed(range(len(channels) - 1))
        )
        self.fuse = nn.ModuleList(_block(2 * channels[i], channels[i]) for i in reversed(range(len(channels) - 1)))
        self.head = nn.Conv2d(channels[0], out_channels, 1)
        self.factor = 2 ** (len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.factor or w % self.factor:
            raise ValueError(f"input size {h}x{w} must be divisible by {self.factor}")
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up, fuse in zip(self.ups, self.fuse):
            y = fuse(torch.cat([up(y), skips.pop()], dim=1))
        return x + self.head(y)
