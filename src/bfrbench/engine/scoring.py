"""One-pass scoring of a folder of restored images against an optional ground-truth folder.

Each image is decoded once per run; every selected metric scores the same in-memory batch. Files pair by stem
(`pair_by_stem`), never by position. Results:
- `out_dir/per_image.csv`: `stem` + one column per scored metric, rows sorted by stem, floats written with `repr`
  (exact round trip; non-finite values as `inf` / `nan`);
- `out_dir/summary.json`: per metric {value, n, direction, unit, range, protocol} (plus n_inf/mean_finite or n_nan
  when they occur) or {"unavailable": reason}; folders, counts, library versions and one `created` time stamp.
  JSON has no infinity, so non-finite numbers are written as the strings "inf", "-inf", "nan".
Set-level metrics (FID, Fréchet distances; `bfrbench.metrics.feature_set.FeatureSetMetric`) see the same decoded
batches, keep per-image FEATURES, and are computed once at the end. They have no column in per_image.csv; their
summary entry says "level": "set" and the summary lists them under "set_level_metrics".
Resume: finished batches are appended to `out_dir/.per_image.partial.csv` (with the run's settings beside it in
`.per_image.partial.json`), and set metrics' features go to `out_dir/.features.<metric>/` (see
`bfrbench.engine.feature_store`); a rerun with the same folders, metrics and options scores only the missing stems
and gives the same values. All of these are removed once the final outputs are written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bfrbench.engine.feature_store import FeatureStore
from bfrbench.errors import BFRBenchError, ImageError
from bfrbench.io.atomic import write_text_atomic
from bfrbench.io.images import read_image
from bfrbench.io.pairing import index_by_stem, pair_by_stem
from bfrbench.metrics.registry import get_spec, metric_names

log = logging.getLogger(__name__)

PER_IMAGE_CSV = "per_image.csv"
SUMMARY_JSON = "summary.json"
PARTIAL_CSV = ".per_image.partial.csv"
PARTIAL_META = ".per_image.partial.json"
NOT_APPLICABLE_NO_GT = "not applicable: full-reference metric and no ground-truth folder was given (--gt)"
_VERSIONED_MODULES = ("numpy", "cv2", "torch", "torchmetrics", "dlib", "pyiqa")

Pair = tuple[str, Path, "Path | None"]


def score_folders(
    pred_dir: str | os.PathLike,
    gt_dir: str | os.PathLike | None = None,
    metrics: list[str] | tuple[str, ...] | None = None,
    out_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    resume: bool = True,
    convert: bool = False,
    progress: bool = True,
    expected_size: int | tuple[int, int] | None = None,
    metric_options: dict[str, dict] | None = None,
) -> dict:
    """Score every image in `pred_dir` with `metrics` (default: all registered) and return the summary.

    Full-reference metrics need `gt_dir`; without it they are reported as not applicable. With `out_dir=None`
    nothing is written (and nothing is resumed). `metric_options` maps a metric name to keyword options of its
    class, e.g. {"frechet_dlib": {"reference_dir": "faces/"}}.
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise BFRBenchError(f"batch_size must be at least 1, got {batch_size}")
    pairs = _pairs(pred_dir, gt_dir)
    scorers, set_metrics, skipped = _select_metrics(metrics, has_gt=gt_dir is not None, options=metric_options)
    names = list(scorers)
    settings = _settings(pred_dir, gt_dir, names, convert, expected_size, set_metrics)
    out = Path(out_dir) if out_dir is not None else None
    stores = {n: FeatureStore(out, n, m.feature_kinds) for n, m in set_metrics.items()}

    wanted = {stem for stem, _, _ in pairs}
    done = _resume_rows(out, settings, wanted) if (out is not None and resume) else {}
    if done:
        for store in stores.values():
            store.load()
        # A stem is done only if every set metric also kept its features.
        done = {s: v for s, v in done.items() if all(store.has(s) for store in stores.values())}
    for store in stores.values():
        store.keep_only(set(done))
    todo = [p for p in pairs if p[0] not in done]
    rows = dict(done)
    if out is not None:
        _start_partial(out, settings, done)
    with tqdm(total=len(pairs), initial=len(done), unit="img", desc="scoring", disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            new, features = _score_batch(batch, scorers, set_metrics, convert, expected_size)
            for name, store in stores.items():  # features first: a stem in the CSV always has its features
                store.add(features[name])
            if out is not None:
                _append_partial(out, names, new)
            rows.update(new)
            bar.update(len(batch))

    summary = _summary(pairs, rows, scorers, skipped, pred_dir, gt_dir, convert, expected_size)
    _add_set_metrics(summary, pairs, set_metrics, stores)
    if out is not None:
        write_text_atomic(out / PER_IMAGE_CSV, _csv_text(names, [(s, rows[s]) for s, _, _ in pairs]))
        write_text_atomic(out / SUMMARY_JSON, json.dumps(_json_ready(summary), indent=2) + "\n")
        (out / PARTIAL_CSV).unlink(missing_ok=True)
        (out / PARTIAL_META).unlink(missing_ok=True)
        for store in stores.values():
            store.remove()
    return summary


# --- inputs -------------------------------------------------------------------------------------------------------


def _pairs(pred_dir, gt_dir) -> list[Pair]:
    if gt_dir is not None:
        return pair_by_stem(pred_dir, gt_dir)
    pred = index_by_stem(pred_dir)
    if not pred:
        raise BFRBenchError(f"{pred_dir}: no images found", fix="point --pred at the folder of restored images")
    return [(stem, pred[stem], None) for stem in sorted(pred)]


def _select_metrics(requested, has_gt: bool,
                    options: dict[str, dict] | None = None) -> tuple[dict, dict, dict[str, str]]:
    """Build the metrics that can run: (per-image metrics, set-level metrics, name -> reason for the others)."""
    from bfrbench.metrics.base import SetMetric
    from bfrbench.metrics.feature_set import FeatureSetMetric
    from bfrbench.metrics.registry import create_metric

    if isinstance(requested, str):
        requested = [n.strip() for n in requested.split(",") if n.strip()]
    names = list(dict.fromkeys(requested)) if requested is not None else metric_names()
    if not names:
        raise BFRBenchError("no metrics selected", fix=f"choose from: {', '.join(metric_names())}")
    options = options or {}
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise BFRBenchError(f"options given for metrics that are not selected: {', '.join(unknown)}",
                            fix=f"select them too, or drop their options; selected: {', '.join(names)}")
    scorers, set_metrics, skipped = {}, {}, {}
    for name in names:
        spec = get_spec(name)
        metric = create_metric(name, **options.get(name, {}))
        # A set metric with its own reference (e.g. frechet_dlib with reference_dir) does not need the GT folder.
        needs_gt = metric.needs_gt if isinstance(metric, FeatureSetMetric) else spec.full_reference
        if needs_gt and not has_gt:
            skipped[name] = NOT_APPLICABLE_NO_GT
            continue
        if isinstance(metric, SetMetric) and not isinstance(metric, FeatureSetMetric):
            raise TypeError(f"metric '{name}': set-level metrics must implement FeatureSetMetric to be scored")
        reason = metric.check_available()
        if reason:
            skipped[name] = reason
            continue
        (set_metrics if isinstance(metric, FeatureSetMetric) else scorers)[name] = metric
    return scorers, set_metrics, skipped


def _read_pair(pred_path: Path, gt_path: Path | None, convert: bool, expected_size):
    pred = read_image(pred_path, convert=convert, size=expected_size)
    if gt_path is None:
        return pred, None
    gt = read_image(gt_path, convert=convert, size=expected_size)
    if pred.shape != gt.shape:
        raise ImageError(
            f"size mismatch: {pred_path} is {pred.shape[1]}x{pred.shape[0]} (WxH) but its ground truth {gt_path} "
            f"is {gt.shape[1]}x{gt.shape[0]}",
            fix="restore at the ground-truth resolution (or resize the output to it) before scoring",
        )
    return pred, gt


def _score_batch(batch: list[Pair], scorers: dict, set_metrics: dict, convert: bool, expected_size):
    """Read each pair once, then let every metric see the batch.

    Returns (stem -> per-image values in metric order, set metric -> stem -> {kind: feature vector}).
    """
    images = [_read_pair(p, g, convert, expected_size) for _, p, g in batch]
    values = np.empty((len(batch), len(scorers)), dtype=np.float64)
    features: dict[str, dict[str, dict]] = {name: {} for name in set_metrics}
    # Metrics take stacked N x H x W x 3 arrays, so images of different sizes are scored in same-size groups.
    by_shape: dict[tuple, list[int]] = {}
    for i, (pred, _) in enumerate(images):
        by_shape.setdefault(pred.shape, []).append(i)
    for idx in by_shape.values():
        pred = np.stack([images[i][0] for i in idx])
        gt = np.stack([images[i][1] for i in idx]) if images[idx[0]][1] is not None else None
        for j, metric in enumerate(scorers.values()):
            scores = np.asarray(metric.score_batch(pred, gt), dtype=np.float64)
            if scores.shape != (len(idx),):
                raise RuntimeError(f"metric '{metric.name}' returned shape {scores.shape} for {len(idx)} images")
            values[idx, j] = scores
        for name, metric in set_metrics.items():
            found = metric.image_features(pred, gt)
            for kind in metric.feature_kinds:
                if len(found[kind]) != len(idx):
                    raise RuntimeError(f"metric '{name}' returned {len(found[kind])} {kind} features for "
                                       f"{len(idx)} images")
            for row, i in enumerate(idx):
                features[name][batch[i][0]] = {kind: found[kind][row] for kind in metric.feature_kinds}
    return {stem: values[i].tolist() for i, (stem, _, _) in enumerate(batch)}, features


# --- resume -------------------------------------------------------------------------------------------------------


def _settings(pred_dir, gt_dir, names, convert, expected_size, set_metrics) -> dict:
    return {
        "pred_dir": str(Path(pred_dir).resolve()),
        "gt_dir": str(Path(gt_dir).resolve()) if gt_dir is not None else None,
        "metrics": names,
        "set_metrics": {name: metric.settings() for name, metric in set_metrics.items()},
        "convert": bool(convert),
        "expected_size": list(expected_size) if isinstance(expected_size, (tuple, list)) else expected_size,
    }


def _resume_rows(out: Path, settings: dict, wanted: set[str]) -> dict[str, list[float]]:
    """Rows of an interrupted run with identical settings; anything else is discarded with a log message."""
    csv_path, meta_path = out / PARTIAL_CSV, out / PARTIAL_META
    if not csv_path.is_file():
        return {}
    try:
        previous = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    if previous != settings:
        log.warning("%s: left by a run with other settings; starting over", csv_path)
        return {}
    text = csv_path.read_text(encoding="utf-8")
    # A crash can cut the last line short; only newline-terminated lines are complete.
    complete = text[: text.rfind("\n") + 1]
    lines = list(csv.reader(io.StringIO(complete)))
    if not lines or lines[0] != ["stem", *settings["metrics"]]:
        return {}
    rows = {}
    for line in lines[1:]:
        if len(line) != len(lines[0]) or line[0] not in wanted:
            continue
        try:
            rows[line[0]] = [float(v) for v in line[1:]]
        except ValueError:
            continue
    return rows


def _start_partial(out: Path, settings: dict, done: dict[str, list[float]]) -> None:
    # Rewrite rather than append to what was there: drops a cut-off last line and rows of images no longer present.
    write_text_atomic(out / PARTIAL_META, json.dumps(settings, indent=2) + "\n")
    write_text_atomic(out / PARTIAL_CSV, _csv_text(settings["metrics"], sorted(done.items())))


def _append_partial(out: Path, names: list[str], rows: dict[str, list[float]]) -> None:
    text = _csv_text(names, list(rows.items()), header=False)
    with open(out / PARTIAL_CSV, "a", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _csv_text(names: list[str], rows: list[tuple[str, list[float]]], header: bool = True) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(["stem", *names])
    for stem, values in rows:
        writer.writerow([stem, *(repr(float(v)) for v in values)])
    return buf.getvalue()


# --- summary ------------------------------------------------------------------------------------------------------


def _summary(pairs, rows, scorers, skipped, pred_dir, gt_dir, convert, expected_size) -> dict:
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
    for name, reason in skipped.items():
        metrics[name] = {"unavailable": reason}
    order = {name: i for i, name in enumerate(metric_names())}
    return {
        "pred_dir": str(Path(pred_dir).resolve()),
        "gt_dir": str(Path(gt_dir).resolve()) if gt_dir is not None else None,
        "n_images": len(pairs),
        "options": {"convert": bool(convert), "expected_size": expected_size},
        "metrics": dict(sorted(metrics.items(), key=lambda kv: order.get(kv[0], len(order)))),
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _add_set_metrics(summary: dict, pairs, set_metrics: dict, stores: dict) -> None:
    """Compute every set metric from the features of all images (stem order) and add its entry to the summary."""
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
    import bfrbench

    versions = {"python": platform.python_version(), "bfrbench": bfrbench.__version__}
    for module_name in _VERSIONED_MODULES:
        module = sys.modules.get(module_name)
        if module is not None:
            versions[module_name] = str(getattr(module, "__version__", "unknown"))
    return versions


def _json_ready(value):
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value
