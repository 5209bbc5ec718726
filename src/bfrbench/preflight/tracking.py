"""The preflight's one MLflow run: per-stage measurements and projections as metrics, preflight.json as artifact."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def stage_metrics(doc: Mapping[str, Any]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for s in doc["stages"]:
        m = s.get("measured") or {}
        for name in ("parameters", "trainable_parameters", "peak_memory_bytes", "seconds_per_step",
                     "data_seconds_per_step", "steps_per_batch"):
            if isinstance(m.get(name), (int, float)):
                flat[f"{s['key']}.{name}"] = float(m[name])
        for name in ("wall_seconds", "device_hours"):
            if isinstance(s["projection"].get(name), (int, float)):
                flat[f"{s['key']}.projected_{name}"] = float(s["projection"][name])
        flat[f"{s['key']}.passed"] = float(s["status"] == "pass")
    flat["total.projected_wall_seconds"] = float(doc["totals"]["wall_seconds"])
    flat["total.projected_device_hours"] = float(doc["totals"]["device_hours"])
    flat["preflight_seconds"] = float(doc["seconds"])
    return flat


def log_run(doc: Mapping[str, Any], out: Path, profile: str) -> str | None:
    """One run named `preflight` in experiment bfrbench-<profile>; its id (None when MLflow is off)."""
    from bfrbench.tracking import stage_run

    settings = {k: doc[k] for k in ("profile", "size", "steps", "devices", "accelerator", "batch_size")}
    with stage_run("preflight", profile, settings) as run:
        run.log_metrics(stage_metrics(doc))
        run.set_tags({"bfrbench.preflight.ok": doc["ok"]})
        run.log_artifact(Path(out) / "preflight.json")
        return run.run_id
