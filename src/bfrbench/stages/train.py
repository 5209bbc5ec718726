"""The `train` stage: one training stage of one method, logged to MLflow."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench import paths
from bfrbench.config import load_yaml
from bfrbench.errors import ConfigError
from bfrbench.methods.base import StageContext
from bfrbench.methods.registry import get_method


def run_train(method_name: str, stage: str, config_path: str, params: Mapping[str, Any], out: Path | None,
              progress: bool = True, callbacks: list | None = None) -> Path:
    """`callbacks`: extra Lightning callbacks for the stage's Trainer (the preflight probe)."""
    from bfrbench.tracking import stage_run

    method = get_method(method_name)
    if stage not in method.stages:
        raise ConfigError(f"method {method_name} has no stage {stage!r}", fix=f"its stages: {list(method.stages)}")
    from bfrbench.training.stage import merged_config, run_stage

    raw = load_yaml(config_path)
    cfg = merged_config(method, stage, raw, str(config_path))  # fail on a bad key before MLflow opens a run
    out = Path(out) if out else paths.model_dir(method_name) / stage
    out.mkdir(parents=True, exist_ok=True)
    run_params = {"method": method_name, "stage": stage, "config_file": config_path, "config": cfg,
                  "seed": params["seed"], "size": params["size"]}
    with stage_run(f"train/{method_name}/{stage}", params["profile"], run_params) as run:
        ctx = StageContext(method_name, stage, raw, dict(params), paths.FACES, out, paths.model_dir(method_name),
                           int(params["seed"]), int(params["size"]), progress=progress, logger=run,
                           extras={"callbacks": list(callbacks)} if callbacks else {})
        t0 = time.perf_counter()
        metrics = run_stage(method, ctx)
        run.log_metrics({**metrics, "stage_seconds": time.perf_counter() - t0})  # timings in MLflow, not the card
        for name in ("card.json", "curve.json"):  # a stage with nothing to train has no curve
            if (out / name).is_file():
                run.log_artifact(out / name)
    return out
