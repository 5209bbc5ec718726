"""One-pass scoring of a folder of restored images against an optional ground-truth folder.

Each image is decoded once per run; every selected metric scores the same in-memory batch. Files pair by stem
(`pair_by_stem`), never by position. Results:
- `out_dir/per_image.csv`: `stem` + one column per scored metric, rows sorted by stem, floats written with `repr`
  (exact round trip; non-finite values as `inf` / `nan`);
- `out_dir/summary.json`: per metric {value, n, direction, unit, range, protocol} (plus n_inf/mean_finite or n_nan
  when they occur) or {"unavailable": reason}; folders, counts, library versions and one `created` time stamp.
  JSON has no infinity, so non-finite numbers are written as the strings "inf", "-inf", "nan".
Resume: finished batches are appended to `out_dir/.per_image.partial.csv` (with the run's settings beside it in
`.per_image.partial.json`); a rerun with the same folders, metrics and options scores only the missing stems. Both
files are removed once the final outputs are written atomically.
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
) -> dict:
    """Score every image in `pred_dir` with `metrics` (default: all registered) and return the summary.

    Full-reference metrics need `gt_dir`; without it they are reported as not applicable. With `out_dir=None`
    nothing is written (and nothing is resumed).
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise BFRBenchError(f"batch_size must be at least 1, got {batch_size}")
    pairs = _pairs(pred_dir, gt_dir)
    scorers, skipped = _select_metrics(metrics, has_gt=gt_dir is not None)
    names = list(scorers)
    settings = _settings(pred_dir, gt_dir, names, convert, expected_size)
    out = Path(out_dir) if out_dir is not None else None

    wanted = {stem for stem, _, _ in pairs}
    done = _resume_rows(out, settings, wanted) if (out is not None and resume) else {}
    todo = [p for p in pairs if p[0] not in done]
    rows = dict(done)
    if out is not None:
        _start_partial(out, settings, done)
    with tqdm(total=len(pairs), initial=len(done), unit="img", desc="scoring", disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            new = _score_batch(batch, scorers, convert, expected_size)
            if out is not None:
                _append_partial(out, names, new)
            rows.update(new)
            bar.update(len(batch))

    summary = _summary(pairs, rows, scorers, skipped, pred_dir, gt_dir, convert, expected_size)
    if out is not None:
        write_text_atomic(out / PER_IMAGE_CSV, _csv_text(names, [(s, rows[s]) for s, _, _ in pairs]))
        write_text_atomic(out / SUMMARY_JSON, json.dumps(_json_ready(summary), indent=2) + "\n")
        (out / PARTIAL_CSV).unlink(missing_ok=True)
        (out / PARTIAL_META).unlink(missing_ok=True)
    return summary


# --- inputs -------------------------------------------------------------------------------------------------------


def _pairs(pred_dir, gt_dir) -> list[Pair]:
    if gt_dir is not None:
        return pair_by_stem(pred_dir, gt_dir)
    pred = index_by_stem(pred_dir)
    if not pred:
        raise BFRBenchError(f"{pred_dir}: no images found", fix="point --pred at the folder of restored images")
    return [(stem, pred[stem], None) for stem in sorted(pred)]


def _select_metrics(requested, has_gt: bool) -> tuple[dict, dict[str, str]]:
    """Build the metrics that can run; the others are returned as name -> reason."""
    from bfrbench.metrics.base import SetMetric
    from bfrbench.metrics.registry import create_metric

    if isinstance(requested, str):
        requested = [n.strip() for n in requested.split(",") if n.strip()]
    names = list(dict.fromkeys(requested)) if requested is not None else metric_names()
    if not names:
        raise BFRBenchError("no metrics selected", fix=f"choose from: {', '.join(metric_names())}")
    scorers, skipped = {}, {}
    for name in names:
        spec = get_spec(name)
        if spec.full_reference and not has_gt:
            skipped[name] = NOT_APPLICABLE_NO_GT
            continue
        metric = create_metric(name)
        if isinstance(metric, SetMetric):
            skipped[name] = "not supported yet: set-level metric (update/compute); score_folders scores per image"
            continue
        reason = metric.check_available()
        if reason:
            skipped[name] = reason
            continue
        scorers[name] = metric
    return scorers, skipped


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


def _score_batch(batch: list[Pair], scorers: dict, convert: bool, expected_size) -> dict[str, list[float]]:
    """Read each pair once, then let every metric score the batch; returns stem -> values in metric order."""
    images = [_read_pair(p, g, convert, expected_size) for _, p, g in batch]
    values = np.empty((len(batch), len(scorers)), dtype=np.float64)
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
    return {stem: values[i].tolist() for i, (stem, _, _) in enumerate(batch)}


# --- resume -------------------------------------------------------------------------------------------------------


def _settings(pred_dir, gt_dir, names, convert, expected_size) -> dict:
    return {
        "pred_dir": str(Path(pred_dir).resolve()),
        "gt_dir": str(Path(gt_dir).resolve()) if gt_dir is not None else None,
        "metrics": names,
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
