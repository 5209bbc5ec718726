"""The `flipnet` method: its three training stages and its restorer/degrader, as the pipeline sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bfrbench.methods.base import StageContext

STAGES = ("embed_ae", "embed_align", "diffusion")


class FlipNetMethod:
    name = "flipnet"
    stages = STAGES

    def default_config(self, stage: str) -> dict[str, Any]:
        from bfrbench.methods.flipnet.config import default_config

        return default_config(stage)

    def sampling_defaults(self) -> dict[str, Any]:
        from bfrbench.methods.flipnet.config import SAMPLING

        return dict(SAMPLING)

    def preflight_config(self, stage: str, cfg: dict[str, Any], size: int):
        from bfrbench.methods.flipnet.preflight import preflight_config

        return preflight_config(self, stage, cfg, size)

    def preflight_sampling(self, block: dict[str, Any]):
        from bfrbench.methods.flipnet.config import SAMPLING
        from bfrbench.methods.preflight import fewer_steps

        return fewer_steps(block, SAMPLING, "steps")

    def plan(self, ctx: StageContext):
        from bfrbench.methods.flipnet import stages

        return getattr(stages, f"plan_{ctx.stage}")(ctx, ctx.config)

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None):
        from bfrbench.methods.flipnet.loading import load_flipnet

        return load_flipnet(Path(models_dir), device, sampling)
