"""The `flipnet` method: its three training stages and its restorer/degrader, as the pipeline sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bfrbench.config import merge_known
from bfrbench.methods.base import StageContext

STAGES = ("embed_ae", "embed_align", "diffusion")


class FlipNetMethod:
    name = "flipnet"
    stages = STAGES

    def default_config(self, stage: str) -> dict[str, Any]:
        from bfrbench.methods.flipnet.config import default_config

        return default_config(stage)

    def train(self, ctx: StageContext) -> dict[str, Any]:
        from bfrbench.methods.flipnet import stages

        cfg = merge_known(self.default_config(ctx.stage), ctx.config, f"flipnet/{ctx.stage}")
        return getattr(stages, f"train_{ctx.stage}")(ctx, cfg)

    def load(self, models_dir: Path, device: str = "cpu"):
        from bfrbench.methods.flipnet.loading import load_flipnet

        return load_flipnet(Path(models_dir), device)
