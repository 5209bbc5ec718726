"""`unet_l1`: a plain U-Net trained with L1 on naive degradations; the no-prior learned baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.errors import BFRBenchError
from bfrbench.methods.base import StageContext
from bfrbench.training.stage import TrainPlan

DEFAULTS: dict[str, Any] = {
    "model": {"channels": [32, 64, 128]},
    "optim": {"lr": 2e-4, "weight_decay": 0.0},
    "data": {},  # BFRDataModule's DATA_DEFAULTS
    "trainer": {},
}


class _Restorer:
    nfe = 1  # one pass

    def __init__(self, module, device: str):
        self.module = module.to(device).eval()
        self.device = device

    def restore(self, lq: np.ndarray) -> np.ndarray:
        import torch

        from bfrbench.data.tensors import to_tensor, to_uint8

        with torch.inference_mode():
            x = torch.stack([to_tensor(img) for img in lq]).to(self.device)
            return to_uint8(self.module(x))


class UNetL1:
    name = "unet_l1"
    stages = ("train",)

    def default_config(self, stage: str) -> dict[str, Any]:
        return json.loads(json.dumps(DEFAULTS))

    def plan(self, ctx: StageContext) -> TrainPlan:
        from bfrbench.methods.unet_l1_module import UNetL1Module

        cfg = ctx.config
        module = UNetL1Module(cfg["model"]["channels"], cfg["optim"]["lr"], cfg["optim"]["weight_decay"])
        return TrainPlan(module, lambda m: {"model.pt": {"config": cfg["model"], "state_dict": m.net.state_dict()}})

    def sampling_defaults(self) -> dict[str, Any]:
        return {}  # deterministic: no restore-time settings

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None) -> _Restorer:
        import torch

        from bfrbench.archs.unet import PlainUNet

        path = Path(models_dir) / "train" / "model.pt"
        if not path.is_file():
            raise BFRBenchError(f"{path}: unet_l1 has not been trained", fix="run `dvc repro train@unet_l1-train`")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        net = PlainUNet(channels=tuple(blob["config"]["channels"]))
        net.load_state_dict(blob["state_dict"], strict=True)
        return _Restorer(net, device)
