"""`lq`: the degraded input, unchanged. The floor every restoration method must beat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.methods.base import StageContext
from bfrbench.training.stage import NoTraining


class _Identity:
    nfe = 0  # no network

    def restore(self, lq: np.ndarray) -> np.ndarray:
        return lq.copy()


class InputAsIs:
    name = "lq"
    stages = ("card",)

    def default_config(self, stage: str) -> dict[str, Any]:
        return {}

    def plan(self, ctx: StageContext) -> NoTraining:
        return NoTraining({"method": self.name, "stage": ctx.stage, "source": "no parameters", "config": ctx.config})

    def sampling_defaults(self) -> dict[str, Any]:
        return {}  # deterministic: no restore-time settings

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None) -> _Identity:
        return _Identity()
