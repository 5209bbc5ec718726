"""The `restore` stage: run a method over a folder of LQ faces, writing identically named PNGs.

One process or many (`devices`, bfrbench.engine.devices); the work is sharded by fixed batches of stems, resumable,
and the output bytes do not depend on how it was split (bfrbench.engine.restore_job). Rank 0 alone writes the output
folder, its speed file (`speed_file`, default `<out>.restore.json`; not hashed by DVC) and the MLflow run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bfrbench.engine.devices import DeviceConfig


def run_restore(method_name: str, lq_dir: Path, out: Path, models_dir: Path, batch_size: int = 8,
                devices: DeviceConfig | None = None, overwrite: bool = False, convert: bool = False,
                size: int | None = None, progress: bool = True, profile: str = "adhoc", testset: str | None = None,
                sampling: dict[str, Any] | None = None, work: Path | None = None,
                restart: bool = False, speed_file: Path | None = None,
                seed_offset: int = 0) -> dict[str, Any] | None:
    """`sampling`: the method's restore-time settings (params.yaml `sampling.<method>`), over its defaults.
    `work`: the resumable work folder (default: a hidden sibling of `out`). Returns the restore's metadata on rank 0,
    None on the other ranks."""
    from bfrbench.config import merge_known
    from bfrbench.engine.restore_job import RestoreJob
    from bfrbench.engine.runner import run_job
    from bfrbench.methods.registry import get_method
    from bfrbench.tracking import stage_run

    devices = devices or DeviceConfig()
    method = get_method(method_name)
    settings = merge_known(method.sampling_defaults(), sampling or {}, f"sampling.{method_name}")
    out = Path(out)
    job = RestoreJob(method_name, Path(lq_dir), out, Path(models_dir),
                     Path(work) if work else out.with_name(f".{out.name}.restore-work"), settings, devices,
                     batch_size=batch_size, convert=convert, size=size, overwrite=overwrite, restart=restart,
                     speed_file=Path(speed_file) if speed_file else None, seed_offset=int(seed_offset))
    job.check()  # before the MLflow run and before any process starts: a clear error, nothing written
    logged = {"method": method_name, "lq_dir": str(lq_dir), "batch_size": batch_size, "sampling": settings,
              "accelerator": devices.accelerator, "devices": devices.devices, "num_nodes": devices.num_nodes,
              "strategy": devices.strategy}
    with stage_run(f"restore/{method_name}/{testset or lq_dir}", profile, logged) as run:
        meta = run_job(job, devices, progress, desc=f"restore {method_name}")
        if meta is not None:
            run.log_metrics({k: v for k, v in meta.items() if k not in ("devices", "num_nodes", "batch_size")})
            run.log_artifact(job.speed_path)
            log_sample_grid(run, testset or Path(lq_dir).name, Path(lq_dir), out)
    return meta


SAMPLE_FACES = 4  # rows of the restore's MLflow sample grid


def sample_grid(lq_dir: Path, out: Path, faces: int = SAMPLE_FACES):
    """The first `faces` faces (sorted names) as rows LQ | restored | GT; GT when the test set has it (an `hq/`
    folder beside `lq/` with every one of these faces). None when nothing was restored."""
    from bfrbench.io.image_grid import image_grid
    from bfrbench.io.images import read_image
    from bfrbench.io.pairing import index_by_stem

    lq = index_by_stem(lq_dir)
    stems = [s for s in sorted(lq) if (out / f"{s}.png").is_file()][:faces]
    if not stems:
        return None
    gt_dir = lq_dir.parent / "hq"
    gt = index_by_stem(gt_dir) if gt_dir.is_dir() and gt_dir != lq_dir else {}
    with_gt = all(s in gt for s in stems)
    # convert=True: a picture only; the restore itself already refused or converted these files as asked
    rows = [[read_image(lq[s], convert=True), read_image(out / f"{s}.png")]
            + ([read_image(gt[s], convert=True)] if with_gt else []) for s in stems]
    return image_grid(rows, ["LQ", "restored", "GT"] if with_gt else ["LQ", "restored"], max_tile=512)


def log_sample_grid(run, name: str, lq_dir: Path, out: Path) -> None:
    """`samples/<name>_grid.png` in the restore's MLflow run (rank 0 only: the run is inactive elsewhere)."""
    if not run.active:
        return
    grid = sample_grid(lq_dir, out)
    if grid is None:
        return
    import mlflow

    mlflow.MlflowClient().log_image(run.run_id, grid, artifact_file=f"samples/{name}_grid.png")
