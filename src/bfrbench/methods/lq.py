"""`lq`: the degraded input, unchanged. The floor every restoration method must beat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.methods.base import StageContext, write_card


class _Identity:
    def restore(self, lq: np.ndarray) -> np.ndarray:
        return lq.copy()


class InputAsIs:
    name = "lq"
    stages = ("card",)

    def default_config(self, stage: str) -> dict[str, Any]:
        return {}

    def train(self, ctx: StageContext) -> dict[str, Any]:
        card = {"method": self.name, "stage": ctx.stage, "source": "no parameters", "config": ctx.config}
        write_card(ctx.out_dir, card)
        return {}

    def load(self, models_dir: Path, device: str = "cpu") -> _Identity:
        return _Identity()
