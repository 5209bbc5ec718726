import mlflow
import pytest

from bfrbench.errors import ConfigError
from bfrbench.methods.base import StageContext
from bfrbench.methods.registry import get_method
from bfrbench.tracking import stage_run
from bfrbench.training.stage import run_stage
from bfrbench.training.trainer import trainer_config

TINY = {
    "model": {"channels": [8, 16]},
    "optim": {"lr": 0.003},
    "data": {"batch_size": 4, "val_count": 4},
    "trainer": {"max_steps": 6, "log_every_n_steps": 1, "checkpoint_every_n_steps": 3},
}


def _ctx(faces, out, config, work):
    method = get_method("unet_l1")
    from bfrbench.training.stage import merged_config

    cfg = merged_config(method, "train", config, "test")
    return method, StageContext("unet_l1", "train", cfg, {}, faces, out, out.parent, seed=3, size=32, progress=False,
                                extras={"work_root": work})


def test_trainer_config_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="max_stepz"):
        trainer_config({"max_stepz": 3})


def test_unet_l1_trains_logs_and_restores(tiny_faces, tmp_path):
    method, ctx = _ctx(tiny_faces, tmp_path / "models" / "unet_l1" / "train", TINY, tmp_path / "ckpt")
    with stage_run("train/unet_l1/train", "test", {"config": ctx.config}) as run:
        ctx.logger = run
        metrics = run_stage(method, ctx)
        run.log_metrics(metrics)
    assert (ctx.out_dir / "model.pt").is_file() and (ctx.out_dir / "card.json").is_file()
    got = mlflow.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert "train/l1" in got.data.metrics and got.data.params["config.optim.lr"] == "0.003"
    restorer = method.load(ctx.out_dir.parent)
    import numpy as np

    lq = np.zeros((2, 32, 32, 3), np.uint8)
    assert restorer.restore(lq).shape == lq.shape


def test_resume_continues_from_last_checkpoint(tiny_faces, tmp_path):
    work = tmp_path / "ckpt"
    method, ctx = _ctx(tiny_faces, tmp_path / "m1" / "train", TINY, work)
    run_stage(method, ctx)
    ckpts = list(work.rglob("last.ckpt"))
    assert len(ckpts) == 1
    longer = {**TINY, "trainer": {**TINY["trainer"], "max_steps": 9}}
    method, ctx2 = _ctx(tiny_faces, tmp_path / "m2" / "train", longer, work)
    import json

    run_stage(method, ctx2)
    # a different config trains in its own work folder: no resume across configs
    assert len(list(work.rglob("last.ckpt"))) == 2
    method, ctx3 = _ctx(tiny_faces, tmp_path / "m3" / "train", longer, work)
    run_stage(method, ctx3)
    card = json.loads((ctx3.out_dir / "card.json").read_text())
    assert card["steps"] == 9  # resumed at 9 of 9: nothing more to do, same step count


def test_loss_decreases_on_a_fixed_batch(tiny_faces):
    import torch

    from bfrbench.data.datamodule import BFRDataModule
    from bfrbench.methods.unet_l1_module import UNetL1Module

    torch.manual_seed(0)
    dm = BFRDataModule(tiny_faces, 32, "codeformer_stage2", seed=1, batch_size=4)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    module = UNetL1Module([8, 16], 3e-3, 0.0)
    opt = module.configure_optimizers()
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.l1_loss(module(batch["lq"]), batch["hq"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
