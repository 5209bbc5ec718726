"""From the probe files of a stage's two runs (stop after N steps, then resume for one more) to its measurements."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def read_probes(path: Path) -> list[dict[str, Any]]:
    """Every rank's record of one run (`probe.rank*.json` beside `path`), by rank."""
    path = Path(path)
    found = sorted(path.parent.glob(f"{path.stem}.rank*{path.suffix}"))
    records = [json.loads(p.read_text()) for p in found]
    return sorted(records, key=lambda r: int(r.get("rank", 0)))


def warm_batches(records: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """The batches after each process's first (its warm-up: lazy allocation, DDP buckets, kernel choice), and
    whether any are left; when none are (one step per run), every batch, marked cold."""
    warm = [b for r in records for b in r.get("batches", [])[1:]]
    if warm:
        return warm, True
    return [b for r in records for b in r.get("batches", [])], False


def summarize(first: Sequence[dict[str, Any]], resumed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Measurements of a stage from both runs' per-rank records (per rank: the slowest rank sets the pace)."""
    records = [*first, *resumed]
    if not records:
        return {}
    per_rank: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        per_rank.setdefault(int(r.get("rank", 0)), []).append(r)
    step = data = 0.0
    warm_all = True
    steps_per_batch = []
    for rank_records in per_rank.values():
        batches, warm = warm_batches(rank_records)
        warm_all = warm_all and warm
        opt_steps = sum(b["optimizer_steps"] for b in batches)
        if batches and opt_steps:
            step = max(step, sum(b["step_seconds"] + b["data_seconds"] for b in batches) / opt_steps)
            data = max(data, sum(b["data_seconds"] for b in batches) / opt_steps)
            steps_per_batch.append(opt_steps / len(batches))
    memory_key = "peak_gpu_bytes" if any("peak_gpu_bytes" in r for r in records) else "peak_rss_bytes"
    head = first[0] if first else records[0]
    out = {
        "parameters": head.get("parameters"),
        "trainable_parameters": head.get("trainable_parameters"),
        "memory_kind": "gpu_allocated" if memory_key == "peak_gpu_bytes" else "cpu_rss",
        "peak_memory_bytes": max(int(r.get(memory_key, 0)) for r in records),
        "peak_memory_per_rank": {rank: max(int(r.get(memory_key, 0)) for r in rs) for rank, rs in per_rank.items()},
        "seconds_per_step": step or None,
        "data_seconds_per_step": data if step else None,
        "steps_per_batch": max(steps_per_batch) if steps_per_batch else None,
        "warm": warm_all,
        "processes": len(per_rank),
    }
    if resumed:
        out["resumed_from_step"] = min(int(r.get("start_step", -1)) for r in resumed)
        out["resumed_to_step"] = min(int(r.get("end_step", -1)) for r in resumed)
    errors = [r["error"] for r in records if r.get("error")]
    if errors:
        out["error"] = errors[0]
    return out
