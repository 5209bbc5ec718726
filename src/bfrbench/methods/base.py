"""What a method provides to the pipeline: training stages, and a restorer loaded from its model folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


@dataclass
class StageContext:
    """Everything one training stage needs; `out_dir` is the stage's own DVC output folder."""

    method: str
    stage: str
    config: dict[str, Any]
    params: dict[str, Any]
    faces_dir: Path
    out_dir: Path
    models_dir: Path  # models/<method>: earlier stages' outputs live in sibling folders
    seed: int
    size: int
    progress: bool = True
    logger: Any = None  # a bfrbench.tracking.StageRun, for params/metrics/artifacts
    extras: dict[str, Any] = field(default_factory=dict)


class Restorer(Protocol):
    """Restores a batch of LQ faces: uint8 RGB N x H x W x 3 in, same shape out.

    An image's result must not depend on the other images of its batch nor on its position: random numbers come
    from a generator of its own (`methods.common.image_seed`), so a restore split over many processes gives the same
    bytes. `nfe`: network function evaluations per image (0 without a network, 1 for a one-pass network, the
    sampler's calls of its denoiser/score network for a diffusion method), reported beside the restore's speed."""

    nfe: float

    def restore(self, lq: np.ndarray) -> np.ndarray: ...


class Method(Protocol):
    """A method as the runners see it. Training goes through `bfrbench.training.stage.run_stage`, which calls
    `plan(ctx)` (ctx.config already merged over `default_config`) to get a TrainPlan or NoTraining; restore calls
    `load` with the method's restore-time settings (params.yaml `sampling.<name>`, over `sampling_defaults()`)."""

    name: str
    stages: tuple[str, ...]

    def default_config(self, stage: str) -> dict[str, Any]: ...

    def plan(self, ctx: StageContext) -> Any: ...

    def sampling_defaults(self) -> dict[str, Any]: ...

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None) -> Restorer: ...


def read_card(stage_dir: Path) -> dict[str, Any]:
    path = stage_dir / "card.json"
    return json.loads(path.read_text()) if path.is_file() else {}


@dataclass
class PreflightConfig:
    """What a method's optional `preflight_config(stage, cfg, size)` hook returns for `bfrbench preflight`.

    `config` is the stage config to run (the real one, changed only where the machine cannot have what it names);
    `notes` say every change and why. `random_weights`: weights the config loads are absent and the same architecture
    runs with random init ("architecture only, random weights": nothing it produces is a method's result).
    `work_scale`: for a stage with no training steps, how many times the preflight's work the real stage does."""

    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    random_weights: bool = False
    work_scale: float = 1.0
