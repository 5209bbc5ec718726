"""`unet_l1_of`: `unet_l1` trained on online naive degradations PLUS FLIPNET's offline degraded pairs (the paper's
"+O/F"); `unet_l1` itself is the "+O" row. Same network, loss and schedule: only the training data differ."""

from __future__ import annotations

from typing import Any

from bfrbench.errors import ConfigError
from bfrbench.methods.base import StageContext
from bfrbench.methods.unet_l1 import UNetL1


class UNetL1PlusFlipData(UNetL1):
    name = "unet_l1_of"

    def train(self, ctx: StageContext) -> dict[str, Any]:
        if not (ctx.config.get("data") or {}).get("extra_pairs"):
            raise ConfigError(f"{self.name}/{ctx.stage}: data.extra_pairs is not set",
                              fix="point it at FLIPNET's degraded set, e.g. artifacts/degraded/flipnet")
        return super().train(ctx)
