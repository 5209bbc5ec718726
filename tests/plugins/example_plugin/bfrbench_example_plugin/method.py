"""`example_conv`: a residual stack of 3x3 convolutions trained with L1, as a method from another package.

It implements `bfrbench.methods.base.Method` with bfrbench's public pieces only: the stage runner trains what `plan`
returns (seeding, data, resume, card, curve), restore calls `load` and then `restore` on uint8 batches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.errors import BFRBenchError
from bfrbench.methods.base import StageContext
from bfrbench.training.stage import TrainPlan

DEFAULTS: dict[str, Any] = {
    "model": {"width": 8, "depth": 2},
    "optim": {"lr": 1e-3},
    "data": {},  # BFRDataModule's DATA_DEFAULTS (degradation, batch size, workers)
    "trainer": {},
}


class _Restorer:
    nfe = 1  # one network pass per image

    def __init__(self, net, device: str):
        self.net = net.to(device).eval()
        self.device = device

    def restore(self, lq: np.ndarray) -> np.ndarray:
        import torch

        from bfrbench.data.tensors import to_tensor, to_uint8

        with torch.inference_mode():
            x = torch.stack([to_tensor(img) for img in lq]).to(self.device)
            return to_uint8(self.net(x))


class ExampleConv:
    # what bfrbench reads without instantiating: the registry checks these when it loads the entry point
    name = "example_conv"
    stages = ("train",)
    description = "example plugin: a residual stack of 3x3 convolutions trained with L1 (tests/plugins)"
    behaviour = "deterministic (one network pass, no noise)"

    def default_config(self, stage: str) -> dict[str, Any]:
        return json.loads(json.dumps(DEFAULTS))  # a fresh copy: the runner merges the stage's config into it

    def plan(self, ctx: StageContext) -> TrainPlan:
        from bfrbench_example_plugin.module import ExampleConvModule

        cfg = ctx.config
        module = ExampleConvModule(cfg["model"]["width"], cfg["model"]["depth"], cfg["optim"]["lr"])
        return TrainPlan(module, lambda m: {"model.pt": {"config": cfg["model"], "state_dict": m.net.state_dict()}})

    def sampling_defaults(self) -> dict[str, Any]:
        return {}  # no restore-time settings

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None) -> _Restorer:
        import torch

        from bfrbench_example_plugin.module import ResidualConvNet

        path = Path(models_dir) / "train" / "model.pt"
        if not path.is_file():
            raise BFRBenchError(f"{path}: example_conv has not been trained",
                                fix="run `bfrbench train example_conv train --config <your config>`")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        net = ResidualConvNet(blob["config"]["width"], blob["config"]["depth"])
        net.load_state_dict(blob["state_dict"], strict=True)
        return _Restorer(net, device)
