"""MLflow tracking for every stage: params, metrics and artifacts.

Default store: `sqlite:///<cwd>/mlflow.db` (MLflow 3 refuses a bare `file:` store). `MLFLOW_TRACKING_URI` points
the suite at any server (e.g. a lab's shared `http://mlflow.example:5000`). Only global rank 0 writes, so a DDP
stage yields one run, not one per process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

EXPERIMENT_PREFIX = "bfrbench"


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its runs' files: beside a local sqlite store (`sqlite:///DIR/x.db` ->
    DIR/mlruns), so the store and its images stay together whatever the working directory; None (the server's own
    default) for any other store, e.g. a shared tracking server."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    return (Path(uri[len(prefix):]).resolve().parent / "mlruns").as_uri()


def is_rank_zero() -> bool:
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(var, "0") != "0":
            return False
    return True


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


class StageRun:
    """A handle on the MLflow run of one stage (a no-op on non-zero ranks or when disabled)."""

    def __init__(self, run_id: str | None, experiment: str):
        self.run_id = run_id
        self.experiment = experiment

    @property
    def active(self) -> bool:
        return self.run_id is not None

    def log_params(self, params: Mapping[str, Any]) -> None:
        if not self.active:
            return
        import mlflow

        flat = {k: str(v)[:6000] for k, v in flatten(params).items()}
        items = sorted(flat.items())
        for i in range(0, len(items), 100):
            mlflow.log_params(dict(items[i : i + 100]), run_id=self.run_id)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        if not self.active:
            return
        import math

        import mlflow

        clean = {}
        for k, v in flatten(metrics).items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                continue  # MLflow rejects non-numbers; infinities stay in the JSON outputs
            clean[k.replace("@", "_at_")] = float(v)
        if clean:
            mlflow.log_metrics(clean, step=step, run_id=self.run_id)

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        if not self.active:
            return
        import mlflow

        path = Path(path)
        client = mlflow.MlflowClient()
        if path.is_dir():
            client.log_artifacts(self.run_id, str(path), artifact_path)
        elif path.is_file():
            client.log_artifact(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if not self.active:
            return
        import mlflow

        client = mlflow.MlflowClient()
        for k, v in tags.items():
            client.set_tag(self.run_id, k, str(v))


@contextlib.contextmanager
def stage_run(stage: str, profile: str, params: Mapping[str, Any] | None = None,
              enabled: bool = True) -> Iterator[StageRun]:
    """Open an MLflow run named after the stage in experiment `bfrbench-<profile>`; mark it FAILED on error."""
    experiment = f"{EXPERIMENT_PREFIX}-{profile}"
    if not enabled or not is_rank_zero() or os.environ.get("BFRBENCH_NO_MLFLOW") == "1":
        yield StageRun(None, experiment)
        return
    import logging

    import mlflow

    logging.getLogger("alembic").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri())
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp is not None else \
        client.create_experiment(experiment, artifact_location=artifact_location(tracking_uri()))
    run = client.create_run(exp_id, run_name=stage, tags={"bfrbench.stage": stage, "bfrbench.profile": profile})
    handle = StageRun(run.info.run_id, experiment)
    if params:
        handle.log_params(params)
    try:
        yield handle
    except BaseException:
        client.set_terminated(run.info.run_id, status="FAILED")
        raise
    client.set_terminated(run.info.run_id, status="FINISHED")
