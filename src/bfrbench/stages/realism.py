"""The `realism` stage: how close synthetic LQ sets (naive pipeline, FLIPNET degradation mode) are to real LQ sets.

`real_lq` is one folder or, as the paper measures it, a mapping name -> folder (LFW-Test, WIDER-Test, WebPhoto-Test).
Distribution distances: every metric in `realism_metrics` that is set-level (`frechet_dlib`, `kid_dlib`) is computed
between every LQ set and every real set (`reference_dir`), one column per real set (`METRIC@REAL`); the real sets
against each other give the scale of a "real to real" distance; a set against itself is left out (0 by
construction). No-reference metrics (e.g. `niqe`) are averaged per set, every real set included, so one can see whose
quality statistics match the real ones. Metrics that cannot run here say why ("unavailable: ..."), as everywhere."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SETS = ("naive", "flipnet")
REAL_PREFIX = "real/"  # the row name of a real LQ set (MLflow allows "/" in a metric name, not ":")


def real_sets(spec: Any) -> dict[str, Path]:
    """`real_lq`: one folder (named by its folder) or a mapping name -> folder."""
    from bfrbench.errors import ConfigError

    if isinstance(spec, str) and spec:
        return {Path(spec).name: Path(spec)}
    if isinstance(spec, Mapping) and spec and all(isinstance(v, str) for v in spec.values()):
        return {str(k): Path(v) for k, v in spec.items()}
    raise ConfigError(f"real_lq: {spec!r}", fix="one folder of real LQ faces, or a mapping name: folder "
                      "(experiments/flipnet/data_paper.yaml)")


def _images(folder: Path, batch: int):
    import numpy as np

    from bfrbench.io.images import list_images, read_image

    files = list_images(folder)
    for start in range(0, len(files), batch):
        yield np.stack([read_image(f) for f in files[start : start + batch]])


def _build(metric_names: list[str], reals: Mapping[str, Path]) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    """(no-reference metrics by name, set-level metrics by (name, real set)): a set-level metric embeds its real
    reference set once, for every LQ set."""
    from bfrbench.errors import BFRBenchError
    from bfrbench.metrics.base import SetMetric
    from bfrbench.metrics.registry import create_metric

    per_image, set_level = {}, {}
    for metric_name in metric_names:
        try:
            for real_name, real_dir in reals.items():
                set_level[(metric_name, real_name)] = create_metric(metric_name, reference_dir=str(real_dir))
        except BFRBenchError:  # per-image metrics take no reference_dir
            per_image[metric_name] = create_metric(metric_name)
            continue
        if not isinstance(set_level[(metric_name, next(iter(reals)))], SetMetric):
            raise TypeError(f"{metric_name} accepted reference_dir but is not a set-level metric")
    return per_image, set_level


def _score_set(name: str, folder: Path, per_image: Mapping[str, Any], set_level: Mapping[tuple[str, str], Any],
               batch: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for (metric_name, real_name), metric in set_level.items():
        if name == REAL_PREFIX + real_name:
            continue  # a real set against itself is 0 by construction
        key = f"{metric_name}@{real_name}"
        reason = metric.check_available()
        if reason:
            out[key] = {"unavailable": reason}
            continue
        metric.reset()
        for images in _images(folder, batch):
            metric.update(images, None)
        out[key] = {"value": float(metric.compute()), "reference": real_name, "kind": "distance to real LQ"}
    for metric_name, metric in per_image.items():
        reason = metric.check_available()
        if reason:
            out[metric_name] = {"unavailable": reason}
            continue
        values = []
        for images in _images(folder, batch):
            values.extend(metric.score_batch(images, None).tolist())
        out[metric_name] = {**metric.summarize(values), "kind": "mean over the set"}
    return out


def measure_realism(cfg: Mapping[str, Any], degraded_root: Path, out: Path, overwrite: bool = False,
                    batch: int = 16) -> dict[str, Any]:
    from bfrbench.errors import BFRBenchError
    from bfrbench.io.atomic import atomic_dir
    from bfrbench.metrics.registry import get_spec

    reals = real_sets(cfg["real_lq"])
    for real_name, real_dir in reals.items():
        if not real_dir.is_dir():
            raise BFRBenchError(f"{real_dir}: the real LQ folder {real_name!r} does not exist",
                                fix="set real_lq in the flipnet data config (docs/datasets.md)")
    metric_names = list(cfg["realism_metrics"])
    for m in metric_names:
        get_spec(m)  # unknown names fail here, before any work
    sets = {**{REAL_PREFIX + n: d for n, d in reals.items()}, **{s: degraded_root / s / "lq" for s in SETS}}
    for name, folder in sets.items():
        if not folder.is_dir():
            raise BFRBenchError(f"{folder}: LQ set {name!r} not found", fix=f"run `bfrbench degrade --method {name}`")
    per_image, set_level = _build(metric_names, reals)
    rows = {name: _score_set(name, folder, per_image, set_level, batch) for name, folder in sets.items()}
    columns = [f"{m}@{r}" if (m, r) in set_level else m for m in metric_names
               for r in (reals if any((m, x) in set_level for x in reals) else [None])]
    summary = {"real_lq": {n: str(d) for n, d in reals.items()}, "metrics": columns, "sets": rows,
               "meta": {s: json.loads((degraded_root / s / "meta.json").read_text()) for s in SETS}}
    flat = {f"{s}/{m}": e["value"] for s, r in rows.items() for m, e in r.items()
            if isinstance(e.get("value"), float) and math.isfinite(e["value"])}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(flat, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary
