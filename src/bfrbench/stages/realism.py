"""The `realism` stage: how close synthetic LQ sets (naive pipeline, FLIPNET degradation mode) are to a real LQ set.

Distribution distance: every metric in `realism_metrics` that is a set-level Fréchet distance (e.g. `frechet_dlib`)
is computed between each synthetic set and the real LQ folder (`reference_dir`). No-reference metrics (e.g. `niqe`)
are averaged per set, the real set included, so one can see whose quality statistics match the real ones.
Metrics that cannot run here say why ("unavailable: ..."), as everywhere in the suite."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SETS = ("naive", "flipnet")


def _images(folder: Path, batch: int):
    import numpy as np

    from bfrbench.io.images import list_images, read_image

    files = list_images(folder)
    for start in range(0, len(files), batch):
        yield np.stack([read_image(f) for f in files[start : start + batch]])


def _build(metric_names: list[str], real_dir: Path) -> dict[str, tuple[Any, bool]]:
    """One instance per metric for all sets (a set-level metric embeds the real reference set once)."""
    from bfrbench.errors import BFRBenchError
    from bfrbench.metrics.base import SetMetric
    from bfrbench.metrics.registry import create_metric

    built = {}
    for metric_name in metric_names:
        try:
            metric, set_level = create_metric(metric_name, reference_dir=str(real_dir)), True
        except BFRBenchError:  # per-image metrics take no reference_dir
            metric, set_level = create_metric(metric_name), False
        if set_level and not isinstance(metric, SetMetric):
            raise TypeError(f"{metric_name} accepted reference_dir but is not a set-level metric")
        built[metric_name] = (metric, set_level)
    return built


def _score_set(name: str, folder: Path, real_dir: Path, metrics: dict[str, tuple[Any, bool]],
               batch: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric_name, (metric, set_level) in metrics.items():
        if set_level and name == "real":
            continue  # the real set against itself is 0 by construction
        reason = metric.check_available()
        if reason:
            out[metric_name] = {"unavailable": reason}
            continue
        if set_level:
            metric.reset()
            for images in _images(folder, batch):
                metric.update(images, None)
            value = metric.compute()
            out[metric_name] = {"value": float(value), "reference": str(real_dir), "kind": "distance to real LQ"}
        else:
            values = []
            for images in _images(folder, batch):
                values.extend(metric.score_batch(images, None).tolist())
            summary = metric.summarize(values)
            out[metric_name] = {**summary, "kind": "mean over the set"}
    return out


def measure_realism(cfg: Mapping[str, Any], degraded_root: Path, out: Path, overwrite: bool = False,
                    batch: int = 16) -> dict[str, Any]:
    from bfrbench.errors import BFRBenchError
    from bfrbench.io.atomic import atomic_dir
    from bfrbench.metrics.registry import get_spec

    real_dir = Path(cfg["real_lq"])
    if not real_dir.is_dir():
        raise BFRBenchError(f"{real_dir}: the real LQ folder does not exist",
                            fix="set real_lq in the flipnet data config")
    metric_names = list(cfg["realism_metrics"])
    for m in metric_names:
        get_spec(m)  # unknown names fail here, before any work
    sets = {"real": real_dir, **{s: degraded_root / s / "lq" for s in SETS}}
    for name, folder in sets.items():
        if not folder.is_dir():
            raise BFRBenchError(f"{folder}: LQ set {name!r} not found", fix=f"run `bfrbench degrade --method {name}`")
    built = _build(metric_names, real_dir)
    rows = {name: _score_set(name, folder, real_dir, built, batch) for name, folder in sets.items()}
    summary = {"real_lq": str(real_dir), "metrics": metric_names, "sets": rows,
               "meta": {s: json.loads((degraded_root / s / "meta.json").read_text()) for s in SETS}}
    flat = {f"{s}/{m}": e["value"] for s, r in rows.items() for m, e in r.items()
            if isinstance(e.get("value"), float) and math.isfinite(e["value"])}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(flat, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary
