"""`unet_l1`: a plain U-Net trained with L1 on naive degradations; the no-prior learned baseline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.config import merge_known
from bfrbench.errors import BFRBenchError
from bfrbench.methods.base import StageContext, write_card

DEFAULTS: dict[str, Any] = {
    "model": {"channels": [32, 64, 128]},
    "optim": {"lr": 2e-4, "weight_decay": 0.0},
    "data": {"degradation": {"preset": "codeformer_stage2"}, "batch_size": 8, "num_workers": 0, "val_count": 16,
             "flip": True},
    "trainer": {},
}


def _module_class():
    import lightning as L
    import torch

    from bfrbench.archs.unet import PlainUNet

    class UNetL1Module(L.LightningModule):
        def __init__(self, channels: list[int], lr: float, weight_decay: float):
            super().__init__()
            self.save_hyperparameters()
            self.net = PlainUNet(channels=tuple(channels))

        def forward(self, lq):
            return self.net(lq)

        def training_step(self, batch, batch_idx):
            loss = torch.nn.functional.l1_loss(self.net(batch["lq"]), batch["hq"])
            self.log("train/l1", loss, prog_bar=True, sync_dist=False)
            return loss

        def validation_step(self, batch, batch_idx):
            pred = self.net(batch["lq"]).clamp(0, 1)
            mse = torch.mean((pred - batch["hq"]) ** 2, dim=(1, 2, 3))
            psnr = 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
            self.log("val/l1", torch.nn.functional.l1_loss(pred, batch["hq"]), sync_dist=True)
            self.log("val/psnr_rgb", psnr.mean(), sync_dist=True)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    return UNetL1Module


class _Restorer:
    def __init__(self, module, device: str):
        self.module = module.to(device).eval()
        self.device = device

    def restore(self, lq: np.ndarray) -> np.ndarray:
        import torch

        from bfrbench.data.datamodule import to_tensor, to_uint8

        with torch.inference_mode():
            x = torch.stack([to_tensor(img) for img in lq]).to(self.device)
            return to_uint8(self.module(x))


def config_hash(cfg: dict[str, Any], extra: dict[str, Any]) -> str:
    blob = json.dumps({"cfg": cfg, **extra}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


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
                           data["num_workers"], data["val_count"], data["flip"])
        module = _module_class()(cfg["model"]["channels"], cfg["optim"]["lr"], cfg["optim"]["weight_decay"])
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
                                 "config": cfg, "steps": trainer.global_step, "final_metrics": metrics})
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
