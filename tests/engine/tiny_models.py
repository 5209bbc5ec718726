"""Tiny trained models of classic, unet_l1 and difface (32 px, seconds of CPU), an LQ folder and a params file, for
restore tests that run the real CLI (as `dvc repro` does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = {"batch_size": 4, "num_workers": 0, "val_count": 4}
TRAINER = {"max_steps": 3, "log_every_n_steps": 1, "checkpoint_every_n_steps": 3}
EST = {"img_size": 4, "embed_dim": 24, "depths": [2], "num_heads": [4], "window_size": 4, "mlp_ratio": 2.0, "sf": 8}
PRIOR = {"image_size": 32, "model_channels": 16, "out_channels": 6, "num_res_blocks": 1, "attention_resolutions": [8],
         "channel_mult": [1, 2, 2], "num_head_channels": 16, "norm_groups": 8}
STAGES = {
    ("classic", "fit"): {"num_faces": 6, "grid": {"h": [0.0, 10.0], "amount": [0.0, 1.0], "radius": [1.0]}},
    ("unet_l1", "train"): {"model": {"channels": [8, 16]}, "data": DATA, "trainer": TRAINER},
    ("difface", "estimator"): {"weights": "suite", "arch": EST, "data": DATA, "trainer": TRAINER},
    ("difface", "prior"): {"weights": "suite", "arch": PRIOR, "data": DATA, "trainer": TRAINER},
}
DIFFACE_SAMPLING = {"respacing": 25, "start_step": 3, "eta": 0.5}


def train_tiny(root: Path, faces: Path) -> Path:
    """models/<method>/<stage> under `root` for every stage of STAGES; returns root / "models"."""
    from bfrbench.methods.base import StageContext
    from bfrbench.methods.registry import get_method
    from bfrbench.training.stage import merged_config, run_stage

    for (name, stage), cfg in STAGES.items():
        method = get_method(name)
        out = root / "models" / name / stage
        ctx = StageContext(name, stage, merged_config(method, stage, cfg, "test"), {}, faces, out, out.parent,
                           seed=5, size=32, progress=False, extras={"work_root": root / "train_work"})
        run_stage(method, ctx)
    return root / "models"


def write_lq(folder: Path, n: int, seed: int = 3) -> Path:
    from bfrbench.io.images import write_image
    from conftest import smooth_face_like

    rng = np.random.default_rng(seed)
    for i in range(n):
        write_image(folder / f"face_{i:03d}.png", smooth_face_like(rng, 32))
    return folder


def write_params(path: Path, batch_size: int = 4, difface: dict | None = None) -> Path:
    """The smoke profile at 32 px with tiny DifFace sampling and the given restore batch size."""
    params = yaml.safe_load((ROOT / "experiments/profiles/smoke.yaml").read_text())
    params["size"] = 32
    params["sampling"]["difface"] = {**DIFFACE_SAMPLING, **(difface or {})}
    params["restore"]["batch_size"] = batch_size
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def env(tmp: Path, mlflow: bool = False) -> dict[str, str]:
    extra = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"} if mlflow else {"BFRBENCH_NO_MLFLOW": "1"}
    return {**os.environ, "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1", **extra}


def restore_cmd(method: str, lq: Path, out: Path, models: Path, params: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bfrbench.cli", "--no-progress", "restore", method, "--lq", str(lq), "--out",
            str(out), "--models", str(models / method), "--params", str(params), *extra]


def run(cmd: list[str], cwd: Path, environ: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}
