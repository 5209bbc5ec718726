"""`unet_l1`: a plain U-Net trained with L1 on naive degradations; the no-prior learned baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.config import merge_known
from bfrbench.errors import BFRBenchError
from bfrbench.methods.base import StageContext, write_card
from bfrbench.training.fingerprint import config_hash  # re-exported: methods import it from here

DEFAULTS: dict[str, Any] = {
    "model": {"channels": [32, 64, 128]},
    "optim": {"lr": 2e-4, "weight_decay": 0.0},
    "data": {"degradation": {"preset": "codeformer_stage2"}, "batch_size": 8, "num_workers": 0, "val_count": 16,
             "flip": True, "worker_start": "spawn",
             "fast_blur": True, "extra_pairs": None},  # extra_pairs: offline (lq/, hq/) folder added to the draws
    "trainer": {},
}


class _Restorer:
    def __init__(self, module, device: str):
        self.module = module.to(device).eval()
        self.device = device

    def restore(self, lq: np.ndarray) -> np.ndarray:
        import torch

        from bfrbench.data.tensors import to_tensor, to_uint8

        with torch.inference_mode():
            x = torch.stack([to_tensor(img) for img in lq]).to(self.device)
            return to_uint8(self.module(x))


def trained_steps(trainer, ckpt_dir: Path) -> int:
    """Optimizer steps done; under ddp_spawn the main process's trainer is not updated, the last checkpoint is."""
    import torch

    if trainer.global_step:
        return int(trainer.global_step)
    last = ckpt_dir / "last.ckpt"
    if last.is_file():
        return int(torch.load(last, map_location="cpu", weights_only=True)["global_step"])
    return 0


class UNetL1:
    name = "unet_l1"
    stages = ("train",)

    def default_config(self, stage: str) -> dict[str, Any]:
        return json.loads(json.dumps(DEFAULTS))

    def train(self, ctx: StageContext) -> dict[str, Any]:
        import torch

        from bfrbench.data.datamodule import BFRDataModule
        from bfrbench.training.trainer import fit, trainer_config

        cfg = merge_known(DEFAULTS, ctx.config, f"{self.name}/{ctx.stage}")
        tcfg = trainer_config(cfg["trainer"], f"{self.name}/{ctx.stage}.trainer")
        data = cfg["data"]
        dm = BFRDataModule(ctx.faces_dir, ctx.size, data["degradation"], ctx.seed, data["batch_size"],
                           data["num_workers"], data["val_count"], data["flip"], data["worker_start"],
                           fast_blur=data["fast_blur"], extra_pairs=data["extra_pairs"])
        from bfrbench.methods.unet_l1_module import UNetL1Module

        module = UNetL1Module(cfg["model"]["channels"], cfg["optim"]["lr"], cfg["optim"]["weight_decay"])
        # Interrupted runs resume from a work folder keyed by the config, outside the DVC output.
        work = ctx.extras.get("work_root", Path("checkpoints")) / self.name / ctx.stage / config_hash(
            cfg, {"seed": ctx.seed, "size": ctx.size, "faces": str(ctx.faces_dir)})
        trainer = fit(module, dm, tcfg, work, run=ctx.logger, progress=ctx.progress)
        if trainer.global_rank != 0:
            return {}
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"config": cfg["model"], "state_dict": module.net.state_dict()}, ctx.out_dir / "model.pt")
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        write_card(ctx.out_dir, {"method": self.name, "stage": ctx.stage, "source": "trained by the suite",
                                 "config": cfg, "steps": trained_steps(trainer, work / "checkpoints"), "final_metrics": metrics})
        return metrics

    def load(self, models_dir: Path, device: str = "cpu") -> _Restorer:
        import torch

        from bfrbench.archs.unet import PlainUNet

        path = Path(models_dir) / "train" / "model.pt"
        if not path.is_file():
            raise BFRBenchError(f"{path}: unet_l1 has not been trained", fix="run `dvc repro train@unet_l1-train`")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        net = PlainUNet(channels=tuple(blob["config"]["channels"]))
        net.load_state_dict(blob["state_dict"], strict=True)
        return _Restorer(net, device)
