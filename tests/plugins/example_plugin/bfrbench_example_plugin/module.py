"""The network and LightningModule of `example_conv` (module level, so DDP can pickle the module)."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn


class ResidualConvNet(nn.Module):
    """x + f(x), f a stack of 3x3 convolutions: the net learns a correction of its input, not the whole image."""

    def __init__(self, width: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(width, 3, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ExampleConvModule(L.LightningModule):
    def __init__(self, width: int, depth: int, lr: float):
        super().__init__()
        self.save_hyperparameters()
        self.net = ResidualConvNet(width, depth)

    def training_step(self, batch, batch_idx):
        loss = nn.functional.l1_loss(self.net(batch["lq"]), batch["hq"])
        self.log("train/l1", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/l1", nn.functional.l1_loss(self.net(batch["lq"]).clamp(0, 1), batch["hq"]), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
