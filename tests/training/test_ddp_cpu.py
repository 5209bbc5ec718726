"""DDP on CPU over gloo with 2 processes: `ddp_spawn` in-process (pytest-safe) and `ddp` through the CLI."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from bfrbench.methods.base import StageContext
from bfrbench.methods.registry import get_method
from bfrbench.training.stage import merged_config, run_stage

pytestmark = pytest.mark.slow

TINY = {
    "model": {"channels": [8, 16]},
    "data": {"batch_size": 2, "val_count": 2},
    "trainer": {"max_steps": 4, "log_every_n_steps": 1, "checkpoint_every_n_steps": 2, "devices": 2},
}


def test_ddp_spawn_two_processes(tiny_faces, tmp_path):
    method = get_method("unet_l1")
    cfg = merged_config(method, "train",
                      {**TINY, "trainer": {**TINY["trainer"], "strategy": "ddp_spawn"}}, "test")
    out = tmp_path / "models" / "unet_l1" / "train"
    ctx = StageContext("unet_l1", "train", cfg, {}, tiny_faces, out, out.parent, seed=0, size=32, progress=False,
                       extras={"work_root": tmp_path / "ckpt"})
    run_stage(method, ctx)
    card = json.loads((out / "card.json").read_text())
    assert card["steps"] == 4 and (out / "model.pt").is_file()
    import torch

    saved = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    last = next((tmp_path / "ckpt").rglob("last.ckpt"))
    trained = torch.load(last, weights_only=True)["state_dict"]
    for key, value in saved.items():
        assert torch.equal(value, trained[f"net.{key}"]), f"{key}: the exported weights are not the trained ones"


def test_ddp_through_the_cli(tmp_path):
    from conftest import make_face_set

    make_face_set(tmp_path / "artifacts" / "faces")
    cfg = {**TINY, "trainer": {**TINY["trainer"], "strategy": "ddp"}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    # the smoke profile, pinned: params.yaml may hold any profile (this test checks the bfrbench-smoke experiment)
    params = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "profiles",
                                              "smoke.yaml")))
    params["size"] = 32
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    cmd = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "train", "unet_l1", "train", "--config", "tiny.yaml"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "wrote unet_l1/train to models/unet_l1/train" in out.stdout
    card = json.loads((tmp_path / "models" / "unet_l1" / "train" / "card.json").read_text())
    assert card["steps"] == 4
    import mlflow

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["bfrbench-smoke"], output_format="list")
    assert len(runs) == 1, "one MLflow run per stage, not one per process"
