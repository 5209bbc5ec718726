"""The projection of each stage's configured run, the console table and preflight.json.

Projection (docs/preflight.md): the per-device batch is fixed by the config, so with more devices each step does
the same work per device (weak scaling): the configured run's wall time is `max_steps x measured seconds per
optimizer step`, on the configured devices, and its device-hours are that times the device count. Gradient
all-reduce time grows with the device count and is ignored; a measurement at a lowered batch size or size is scaled
linearly in pixels per step and marked as an estimate. A stage without training steps projects its measured run
time times the method's `work_scale`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

SCHEMA = "bfrbench-preflight/1"


def projection(stage: Mapping[str, Any]) -> dict[str, Any]:
    """{wall_seconds, device_hours, basis} of the configured run of one stage (None when nothing was measured)."""
    measured = stage.get("measured") or {}
    if not stage.get("trains"):
        seconds = stage.get("run_seconds")
        if seconds is None:
            return {"wall_seconds": None, "device_hours": None, "basis": "not measured"}
        scale = float(stage.get("work_scale", 1.0))
        wall = seconds[0] * scale
        basis = "measured run time" + (f" x {scale:g} (the configured amount of work)" if scale != 1 else "")
        return {"wall_seconds": wall, "device_hours": wall / 3600, "basis": basis}
    per_step = measured.get("seconds_per_step")
    if not per_step:
        return {"wall_seconds": None, "device_hours": None, "basis": "not measured"}
    cfg, pre = stage["configured"], stage["preflight"]
    scale, why = 1.0, []
    if pre["batch_size"] and cfg["batch_size"] and pre["batch_size"] != cfg["batch_size"]:
        scale *= cfg["batch_size"] / pre["batch_size"]
        why.append(f"batch {pre['batch_size']} -> {cfg['batch_size']}")
    if pre["size"] != cfg["size"]:
        scale *= (cfg["size"] / pre["size"]) ** 2
        why.append(f"{pre['size']} -> {cfg['size']} px")
    wall = cfg["max_steps"] * per_step * scale
    devices = cfg["devices"] * cfg.get("num_nodes", 1)
    basis = f"{cfg['max_steps']} steps x {per_step:.3g} s on {devices} device(s)"
    if why:
        basis += f", scaled linearly ({', '.join(why)}): an estimate"
    if not measured.get("warm"):
        basis += "; cold steps only (first step of each process)"
    return {"wall_seconds": wall, "device_hours": wall * devices / 3600, "basis": basis}


def totals(stages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    walls = [s["projection"]["wall_seconds"] for s in stages]
    hours = [s["projection"]["device_hours"] for s in stages]
    known = [w for w in walls if w is not None]
    return {"wall_seconds": sum(known), "device_hours": sum(h for h in hours if h is not None),
            "stages_projected": len(known), "stages": len(stages),
            "note": "stages run one after another (as `dvc repro` runs them); unprojected stages are not included"}


def human_count(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def human_bytes(n: int | None) -> str:
    if not n:
        return "-"
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def human_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 120:
        return f"{s:.2f} s" if s < 10 else f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


COLUMNS = ("stage", "status", "params (trainable)", "peak mem/proc", "checkpoint", "s/step", "data s/step",
           "steps/batch", "projected wall", "device-h")


def stage_row(s: Mapping[str, Any]) -> list[str]:
    m = s.get("measured") or {}
    p = s["projection"]
    status = s["status"] + (" (random weights)" if s.get("random_weights") and s["status"] == "pass" else "")
    params = "-" if m.get("parameters") is None else \
        f"{human_count(m['parameters'])} ({human_count(m.get('trainable_parameters'))})"
    per_step = human_seconds(m.get("seconds_per_step")) + ("" if m.get("warm", True) else " cold")
    steps = "-" if m.get("steps_per_batch") is None else f"{m['steps_per_batch']:g}"
    hours = "-" if p["device_hours"] is None else f"{p['device_hours']:.1f}"
    return [s["key"], status, params, human_bytes(m.get("peak_memory_bytes")), human_bytes(s.get("checkpoint_bytes")),
            per_step,
            human_seconds(m.get("data_seconds_per_step")), steps, human_seconds(p["wall_seconds"]), hours]


def render(doc: Mapping[str, Any]) -> str:
    """The console table, totals, per-stage notes (what changed and why), methods' restore/score, then errors."""
    rows = [list(COLUMNS)] + [stage_row(s) for s in doc["stages"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    t = doc["totals"]
    lines.append(f"total (configured devices): {human_seconds(t['wall_seconds'])} wall, {t['device_hours']:.1f} "
                 f"device-hours ({t['stages_projected']} of {t['stages']} stages projected; {t['note']})")
    lines.append("")
    for note in doc.get("notes", []):
        lines.append(f"note: {note}")
    for s in doc["stages"]:
        extra = list(s.get("notes", []))
        if s.get("random_weights"):
            extra.insert(0, "architecture only, random weights: nothing it produces is a result")
        extra.append(f"projection: {s['projection']['basis']}")
        lines.append(f"{s['key']}:")
        lines.extend(f"  - {e}" for e in extra)
    if doc.get("methods"):
        lines.append("")
        lines.append("restore + score (plumbing checks on preflight outputs, not results):")
        for m in doc["methods"]:
            lines.append(f"  {m['method']:<20} {m['status']:<5} {m.get('summary', '')}")
    errors = [(s["key"], s["error"]) for s in doc["stages"] if s.get("error")] + \
        [(f"{m['method']} (restore/score)", m["error"]) for m in doc.get("methods", []) if m.get("error")]
    if errors:  # last, next to the verdict line: a long table would scroll them away
        lines.append("")
        lines.append("errors:")
        for key, err in errors:
            lines.append(f"  {key}:")
            lines.extend(f"      {ln}" for ln in err.splitlines())
    return "\n".join(lines)


def document(stages: Sequence[Mapping[str, Any]], methods: Sequence[Mapping[str, Any]],
             context: Mapping[str, Any]) -> dict[str, Any]:
    """preflight.json's content."""
    for s in stages:
        s["projection"] = projection(s)  # type: ignore[index]
    failed = [s["key"] for s in stages if s["status"] != "pass"] + \
        [f"{m['method']} (restore/score)" for m in methods if m["status"] != "pass"]
    return {"schema": SCHEMA, **context, "stages": list(stages), "methods": list(methods),
            "totals": totals(stages), "failed": failed, "ok": not failed}


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=1, default=str) + "\n"


def markdown(doc: Mapping[str, Any]) -> str:
    """The same table as markdown (docs/preflight.md's measured tables are written with it)."""
    rows = [stage_row(s) for s in doc["stages"]]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    t = doc["totals"]
    lines.append("")
    lines.append(f"Total (configured devices): {human_seconds(t['wall_seconds'])} wall, {t['device_hours']:.1f} "
                 f"device-hours ({t['stages_projected']} of {t['stages']} stages projected).")
    return "\n".join(lines)
