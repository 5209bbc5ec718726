"""`unet_l1_of`: `unet_l1` trained on online naive degradations PLUS FLIPNET's offline degraded pairs (the paper's
"+O/F"); `unet_l1` itself is the "+O" row. Same network, loss and schedule: only the training data differ."""

from __future__ import annotations

from pathlib import Path

from bfrbench.errors import ConfigError
from bfrbench.methods.base import StageContext
from bfrbench.methods.unet_l1 import UNetL1
from bfrbench.training.stage import TrainPlan, folder_fingerprint


class UNetL1PlusFlipData(UNetL1):
    name = "unet_l1_of"

    def plan(self, ctx: StageContext) -> TrainPlan:
        extra = ctx.config["data"]["extra_pairs"]
        if not extra:
            raise ConfigError(f"{self.name}/{ctx.stage}: data.extra_pairs is not set",
                              fix="point it at FLIPNET's degraded set, e.g. artifacts/degraded/flipnet")
        if not Path(extra).is_dir():
            raise ConfigError(f"{self.name}/{ctx.stage}: data.extra_pairs {extra}: no such folder",
                              fix="run `bfrbench degrade --method flipnet` first")
        plan = super().plan(ctx)
        # new FLIPNET data must never resume a checkpoint trained on the old data
        plan.resume_key["extra_pairs"] = folder_fingerprint(Path(extra))
        return plan
