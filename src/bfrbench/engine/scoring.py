"""One-pass scoring of a folder of restored images against an optional ground-truth folder, on one or many ranks.

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

Sharding (`devices`, bfrbench.engine.devices): the pairs, sorted by stem, are cut into fixed batches
(`engine.sharded.global_batches`) and rank r scores batches r, r + N, ...; an image is scored in the same batch
whatever N is, so its values are the same bytes (a resumed batch holds only its stems still to score). Each rank
appends its rows to its own partial CSV (bfrbench.engine.score_partial) and its features to its own parts
(bfrbench.engine.feature_store); rank 0 merges them into per_image.csv and summary.json
(bfrbench.engine.score_summary) and removes the partial files.
Resume: a rerun with the same folders (the same file contents), metrics and options scores only the batches with a
missing stem and gives the same values, with the same or another number of ranks.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.engine import score_partial
from bfrbench.engine.devices import DeviceConfig
from bfrbench.engine.feature_store import FeatureStore
from bfrbench.engine.runner import run_job
from bfrbench.engine.score_partial import PARTIAL_CSV, PARTIAL_META  # noqa: F401 - part of this module's interface
from bfrbench.engine.score_summary import add_set_metrics, json_ready, summary
from bfrbench.engine.sharded import Plan, global_batches
from bfrbench.errors import BFRBenchError, ImageError
from bfrbench.io.atomic import write_text_atomic
from bfrbench.io.images import read_image
from bfrbench.io.pairing import index_by_stem, pair_by_stem
from bfrbench.metrics.registry import get_spec, metric_names

log = logging.getLogger(__name__)

PER_IMAGE_CSV = "per_image.csv"
SUMMARY_JSON = "summary.json"
NOT_APPLICABLE_NO_GT = "not applicable: full-reference metric and no ground-truth folder was given (--gt)"

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
    devices: DeviceConfig | None = None,
) -> dict | None:
    """Score every image in `pred_dir` with `metrics` (default: all registered) and return the summary.

    Full-reference metrics need `gt_dir`; without it they are reported as not applicable. With `out_dir=None`
    nothing is written (and nothing is resumed; one process only). `metric_options` maps a metric name to keyword
    options of its class, e.g. {"frechet_dlib": {"reference_dir": "faces/"}}. With several `devices`, ranks other
    than 0 return None.
    """
    if batch_size < 1:
        raise BFRBenchError(f"batch_size must be at least 1, got {batch_size}")
    devices = devices or DeviceConfig()
    if devices.distributed and out_dir is None:
        raise BFRBenchError("scoring on several devices needs an output folder", fix="pass --out DIR")
    job = ScoreJob(Path(pred_dir), Path(gt_dir) if gt_dir is not None else None, metrics,
                   Path(out_dir) if out_dir is not None else None, batch_size, resume, convert, expected_size,
                   metric_options)
    job.pairs, job.selected  # noqa: B018 - unpaired files, unknown metrics, bad options: fail before any process starts
    return run_job(job, devices, progress, desc="scoring")


@dataclass
class ScoreJob:
    """Scoring as a ShardedJob (bfrbench.engine.sharded)."""

    pred_dir: Path
    gt_dir: Path | None
    metrics: Any
    out: Path | None
    batch_size: int = 8
    resume: bool = True
    convert: bool = False
    expected_size: Any = None
    metric_options: dict[str, dict] | None = None
    rows: dict[str, list[float]] = field(default_factory=dict)  # this process's rows (all of them with one rank)

    @cached_property
    def pairs(self) -> list[Pair]:
        return _pairs(self.pred_dir, self.gt_dir)

    @cached_property
    def selected(self) -> tuple[dict, dict, dict[str, str]]:
        return _select_metrics(self.metrics, has_gt=self.gt_dir is not None, options=self.metric_options)

    @property
    def names(self) -> list[str]:
        return list(self.selected[0])

    def _stores(self, writer: str = "") -> dict[str, FeatureStore]:
        return {n: FeatureStore(self.out, n, m.feature_kinds, writer) for n, m in self.selected[1].items()}

    def plan(self) -> Plan:
        scorers, set_metrics, _ = self.selected
        settings = _settings(self.pred_dir, self.gt_dir, self.names, self.convert, self.expected_size, set_metrics,
                             scorers)
        if self.out is not None:
            settings["inputs"] = _inputs_digest(self.pairs)
        self.stores = self._stores()
        wanted = {stem for stem, _, _ in self.pairs}
        done = score_partial.resume_rows(self.out, settings, wanted) if (self.out is not None and self.resume) else {}
        if done:
            for store in self.stores.values():
                store.load()
            # A stem is done only if every set metric also kept its features.
            done = {s: v for s, v in done.items() if all(store.has(s) for store in self.stores.values())}
        for store in self.stores.values():
            store.keep_only(set(done))
        self.rows = dict(done)
        if self.out is not None:
            score_partial.start(self.out, settings, done)
        # the stems still to score, in their fixed batches (a resumed batch holds only its missing stems: the
        # engine's per-image values do not depend on the batch, tests/engine/test_scoring.py)
        batches = global_batches(self.pairs, self.batch_size)
        todo = [[pair for pair in batch if pair[0] not in done] for batch in batches]
        return Plan([batch for batch in todo if batch])

    def start(self, rank: int, device: str, shared: dict[str, Any]) -> None:
        if rank != 0 or not hasattr(self, "stores"):
            self.stores = self._stores("" if rank == 0 else f"r{rank}_")
        self.csv = score_partial.open_rank(self.out, rank, self.names) if self.out is not None else None

    def describe(self, item) -> int:
        return len(item)

    def process(self, item):
        scorers, set_metrics, _ = self.selected
        return _score_batch(item, scorers, set_metrics, self.convert, self.expected_size)

    def write(self, item, result) -> None:
        new, features = result
        for name, store in self.stores.items():  # features first: a stem in the CSV always has its features
            store.add(features[name])
        if self.csv is not None:
            score_partial.append(self.csv, self.names, new)
        self.rows.update(new)

    def finish(self, seconds: float) -> dict:
        scorers, set_metrics, skipped = self.selected
        rows, stores = self.rows, getattr(self, "stores", {})
        if self.out is not None:  # every rank's rows and features, from the files they wrote
            rows = score_partial.read_rows(self.out, self.names, {stem for stem, _, _ in self.pairs})
            stores = self._stores()
            for store in stores.values():
                store.load()
        missing = [stem for stem, _, _ in self.pairs
                   if stem not in rows or not all(store.has(stem) for store in stores.values())]
        if missing:  # a rank failed without stopping the others: never publish a partial result
            raise RuntimeError(f"{self.out}: {len(missing)} image(s) were not scored, e.g. {missing[0]}")
        result = summary(self.pairs, rows, scorers, skipped, self.pred_dir, self.gt_dir, self.convert,
                         self.expected_size)
        add_set_metrics(result, self.pairs, set_metrics, stores)
        if self.out is not None:
            write_text_atomic(self.out / PER_IMAGE_CSV,
                              score_partial.csv_text(self.names, [(s, rows[s]) for s, _, _ in self.pairs]))
            write_text_atomic(self.out / SUMMARY_JSON, json.dumps(json_ready(result), indent=2) + "\n")
            score_partial.remove(self.out)
            for store in stores.values():
                store.remove()
        return result


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
        stems = [batch[i][0] for i in idx]
        for j, metric in enumerate(scorers.values()):
            scores = np.asarray(metric.score_stems(stems, pred, gt), dtype=np.float64)
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


def _settings(pred_dir, gt_dir, names, convert, expected_size, set_metrics, scorers=None) -> dict:
    settings = {
        "pred_dir": str(Path(pred_dir).resolve()),
        "gt_dir": str(Path(gt_dir).resolve()) if gt_dir is not None else None,
        "metrics": names,
        "set_metrics": {name: metric.settings() for name, metric in set_metrics.items()},
        "convert": bool(convert),
        "expected_size": list(expected_size) if isinstance(expected_size, (tuple, list)) else expected_size,
    }
    # Per-image metrics with value-changing options (e.g. the LQ folder of ids_arcface_r18_lq): only when there are
    # any, so that the settings of every earlier run, and their resume, stay as they were.
    options = {name: metric.settings() for name, metric in (scorers or {}).items() if metric.settings()}
    if options:
        settings["metric_settings"] = options
    return settings


def _inputs_digest(pairs: list[Pair]) -> str:
    """The files' contents: rows of an earlier restore of the same folder are never resumed."""
    from bfrbench.engine.fingerprint import files_digest

    named = [(f"pred/{p.name}", p) for _, p, _ in pairs] + [(f"gt/{g.name}", g) for _, _, g in pairs if g is not None]
    return files_digest(named)
