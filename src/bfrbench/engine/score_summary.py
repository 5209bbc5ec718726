"""The summary of a scoring run: per-image metrics' means, set-level metrics from every image's features, versions.

Separate from the engine (bfrbench.engine.scoring) so that rank 0 can build it from the rows and features every rank
left on disk as well as from memory.
"""

from __future__ import annotations

import math
import platform
from pathlib import Path

from bfrbench.metrics.registry import metric_names

# module -> the top-level names its distribution may install (dlib-bin ships dlib as `_dlib_pybind11`)
_VERSIONED_MODULES = {"numpy": ("numpy",), "cv2": ("cv2",), "torch": ("torch",), "torchmetrics": ("torchmetrics",),
                      "dlib": ("dlib", "_dlib_pybind11"), "pyiqa": ("pyiqa",)}


def summary(pairs, rows, scorers, skipped, pred_dir, gt_dir, convert, expected_size) -> dict:
    metrics = {}
    for j, (name, metric) in enumerate(scorers.items()):
        spec = metric.spec
        stats = metric.summarize([rows[stem][j] for stem, _, _ in pairs])
        metrics[name] = {
            **stats,
            "direction": spec.direction,
            "unit": spec.unit,
            "range": list(spec.value_range),
            "protocol": spec.protocol,
        }
        if metric.settings():
            metrics[name]["options"] = metric.settings()
    for name, reason in skipped.items():
        metrics[name] = {"unavailable": reason}
    order = {name: i for i, name in enumerate(metric_names())}
    return {
        "pred_dir": where(pred_dir),
        "gt_dir": where(gt_dir) if gt_dir is not None else None,
        "n_images": len(pairs),
        "options": {"convert": bool(convert), "expected_size": expected_size},
        "metrics": dict(sorted(metrics.items(), key=lambda kv: order.get(kv[0], len(order)))),
        "versions": _versions(),
    }  # no time stamp: DVC hashes this file (the score stage's MLflow run has the times)


def where(folder) -> str:
    """A folder as the summary records it: relative to the working directory when inside it (a DVC stage's outputs
    then hold no absolute path, the same bytes in every clone), else absolute."""
    path = Path(folder).resolve()
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def add_set_metrics(summary: dict, pairs, set_metrics: dict, stores: dict) -> None:
    """Compute every set metric from the features of all images (stem order) and add its entry to the summary.

    Several ranks: rank 0 reads every rank's features from the feature stores on disk and computes here, once, from
    the same float64 arrays in the same (stem) order as one process: the same value to the last bit. Why not
    torchmetrics' synced `Metric` states: its FID keeps running sums whose rank-then-batch order changes the last
    bits with the number of processes, and a cat-state gather would still miss the features of images scored by an
    earlier, interrupted attempt. Those are on disk anyway (a resume needs them there, on storage every rank
    shares), so the disk is the gather."""
    from bfrbench.metrics.feature_set import MIN_IMAGES

    stems = [stem for stem, _, _ in pairs]
    metrics = summary["metrics"]
    for name, metric in set_metrics.items():
        if len(stems) < MIN_IMAGES:
            metrics[name] = {"unavailable": f"set-level metric needs at least {MIN_IMAGES} images, got {len(stems)}"}
            continue
        spec = metric.spec
        stats = metric.compute_from_features(stores[name].stacked(stems))
        entry = {**stats, "level": "set", "direction": spec.direction, "unit": spec.unit,
                 "range": list(spec.value_range), "protocol": spec.protocol}
        if metric.settings():
            entry["options"] = metric.settings()
        metrics[name] = entry
    order = {name: i for i, name in enumerate(metric_names())}
    summary["metrics"] = dict(sorted(metrics.items(), key=lambda kv: order.get(kv[0], len(order))))
    summary["set_level_metrics"] = [n for n in summary["metrics"] if n in set_metrics]


def _versions() -> dict[str, str]:
    """Installed versions of the libraries metrics use, whether or not this process imported them: the summary
    must not depend on which process wrote it (a DDP rank 0 has Lightning, and with it torchmetrics, loaded)."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    import bfrbench

    versions = {"python": platform.python_version(), "bfrbench": bfrbench.__version__}
    dists = packages_distributions()
    for module_name, top_levels in _VERSIONED_MODULES.items():
        for dist in sorted({d for name in top_levels for d in dists.get(name, [])}):
            try:
                versions[module_name] = version(dist)
                break
            except PackageNotFoundError:
                continue
    return versions


def json_ready(value):
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value
