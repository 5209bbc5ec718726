"""Build a Lightning Trainer from config and run `fit` with checkpointing, exact resume and MLflow logging.

Scaling out uses Lightning's own engines: `strategy: ddp` with `devices`/`num_nodes` under torchrun or SLURM
(Lightning reads their environment), `ddp_spawn` inside pytest. See docs/scaling.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench.config import merge_known
from bfrbench.errors import ConfigError

TRAINER_DEFAULTS: dict[str, Any] = {
    "accelerator": "cpu",
    "devices": 1,
    "num_nodes": 1,
    "strategy": "auto",
    "precision": "32-true",
    "max_steps": 100,
    "max_epochs": -1,
    "log_every_n_steps": 10,
    "val_every_n_steps": 0,  # 0: validate once per epoch
    "gradient_clip_val": 0.0,
    "accumulate_grad_batches": 1,
    "checkpoint_every_n_steps": 50,
    "resume": True,
    # torch.use_deterministic_algorithms: "warn" makes every op that has a deterministic kernel use it and warns
    # about the few that have none (some CUDA backward kernels, docs/reproducibility.md); true raises on those.
    "deterministic": "warn",
    "num_sanity_val_steps": 2,
    # faces in the sample grid logged to the stage's MLflow run at every validation (samples/stepNNNNNNN.png, rows:
    # the first validation faces; columns: the module's validation_images, e.g. LQ | output | HQ); 0: no grids.
    # A picture only: the trained weights do not depend on it (training/sample_grid.py).
    "sample_faces": 4,
}


def trainer_config(cfg: Mapping[str, Any] | None, where: str = "trainer") -> dict[str, Any]:
    merged = merge_known(TRAINER_DEFAULTS, dict(cfg or {}), where)
    if merged["max_steps"] <= 0 and merged["max_epochs"] <= 0:
        raise ConfigError(f"{where}: set max_steps or max_epochs to a positive number")
    faces = merged["sample_faces"]
    if isinstance(faces, bool) or not isinstance(faces, int) or faces < 0:
        raise ConfigError(f"{where}.sample_faces: {faces!r} is not a number of faces", fix="a whole number >= 0")
    return merged


def is_global_zero() -> bool:
    from bfrbench.tracking import is_rank_zero

    return is_rank_zero()


def resume_checkpoint(work: Path) -> Path | None:
    """The checkpoint a re-run starts from: the finished run's final one, else the last periodic one."""
    from bfrbench.training.callbacks import FINAL_CHECKPOINT

    for name in (FINAL_CHECKPOINT, "last.ckpt"):
        path = Path(work) / "checkpoints" / name
        if path.is_file():
            return path
    return None


def final_checkpoint(work: Path) -> Path:
    """After `fit`: the checkpoint of the last step (final.ckpt; last.ckpt when a killed run had saved its last step
    but not yet final.ckpt, so the re-run had nothing left to train)."""
    path = resume_checkpoint(work)
    if path is None:
        raise RuntimeError(f"{work}: training wrote no checkpoint")
    return path


def build_trainer(cfg: Mapping[str, Any], out_dir: Path, run_id: str | None = None, progress: bool = True,
                  experiment: str = "bfrbench", extra_callbacks: list | None = None):
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import MLFlowLogger

    from bfrbench.tracking import artifact_location, tracking_uri
    from bfrbench.training.callbacks import (
        AtomicCheckpointIO,
        FinalCheckpoint,
        FinalMetrics,
        IsolatedValidationRNG,
        RNGState,
    )
    from bfrbench.training.curves import LossCurve
    from bfrbench.training.sample_grid import SampleGrid

    ckpt = ModelCheckpoint(
        dirpath=out_dir / "checkpoints",
        filename="step{step:07d}",
        auto_insert_metric_name=False,
        save_last=True,
        every_n_train_steps=cfg["checkpoint_every_n_steps"] or None,
        save_top_k=1,
    )
    # MLflow off (BFRBENCH_NO_MLFLOW=1, e.g. bfrbench preflight's subprocesses): no run of Lightning's own either.
    # Ranks other than 0 get no logger: Lightning logs from rank 0 only, and MLFlowLogger opens its store in its
    # constructor, which under torchrun/srun (all ranks start at once) raced rank 0 creating a new sqlite store's
    # tables ("table runs already exists").
    from bfrbench.tracking import is_rank_zero

    mlflow_off = run_id is None and os.environ.get("BFRBENCH_NO_MLFLOW") == "1"
    logger = False if mlflow_off or not is_rank_zero() else \
        MLFlowLogger(experiment_name=experiment, tracking_uri=tracking_uri(), run_id=run_id, log_model=False,
                     artifact_location=artifact_location(tracking_uri()))
    val_kwargs: dict[str, Any] = {}
    if cfg["val_every_n_steps"]:
        val_kwargs = {"val_check_interval": int(cfg["val_every_n_steps"]), "check_val_every_n_epoch": None}
    callbacks = [RNGState(), IsolatedValidationRNG(), FinalMetrics(), LossCurve(cfg["log_every_n_steps"]), ckpt,
                 FinalCheckpoint(out_dir / "checkpoints"), SampleGrid(cfg["sample_faces"])]
    return L.Trainer(
        accelerator=cfg["accelerator"],
        devices=cfg["devices"],
        num_nodes=cfg["num_nodes"],
        strategy=cfg["strategy"],
        precision=cfg["precision"],
        max_steps=cfg["max_steps"],
        max_epochs=cfg["max_epochs"],
        log_every_n_steps=cfg["log_every_n_steps"],
        gradient_clip_val=cfg["gradient_clip_val"] or None,
        accumulate_grad_batches=cfg["accumulate_grad_batches"],
        deterministic=cfg["deterministic"],
        num_sanity_val_steps=cfg["num_sanity_val_steps"],
        default_root_dir=str(out_dir),
        logger=logger,
        callbacks=[*callbacks, *(extra_callbacks or [])],
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=progress,
        enable_model_summary=False,
        use_distributed_sampler=False,  # our sampler shards by rank itself (see data/datamodule.py)
        **val_kwargs,
    )


SIGTERM_EXIT = 143  # 128 + SIGTERM, what a shell reports for a process the signal ended


def fit(module, datamodule, cfg: Mapping[str, Any], out_dir: Path, run=None, progress: bool = True,
        extra_callbacks: list | None = None):
    """Train, resuming from `out_dir/checkpoints/` (final.ckpt or last.ckpt) when `resume` is on.

    Seeding happens in the stage runner before the module is built; the generators' state at each checkpoint is
    saved and restored by the RNGState callback."""
    trainer = build_trainer(cfg, out_dir, run_id=getattr(run, "run_id", None), progress=progress,
                            experiment=getattr(run, "experiment", "bfrbench"), extra_callbacks=extra_callbacks)
    ckpt_path = resume_checkpoint(out_dir) if cfg["resume"] else None
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt_path) if ckpt_path else None)
    except SIGTERMException:
        # Lightning stops a SIGTERM'd fit with SystemExit() (status 0), so `dvc repro` took the stage as done and
        # recorded an empty output folder (found by killing a smoke repro's training stage). Exit 143 (128 + SIGTERM)
        # with the way on, before anything is exported.
        import sys

        print(f"bfrbench: training stopped by SIGTERM at step {trainer.global_step}; nothing was exported. Run the "
              f"same command again to resume from the last checkpoint in {out_dir}/checkpoints", file=sys.stderr)
        raise SystemExit(SIGTERM_EXIT) from None
    return trainer
