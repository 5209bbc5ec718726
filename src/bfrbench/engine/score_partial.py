"""The per-image rows of an unfinished scoring run, kept so that a run killed mid-way resumes (on any number of ranks).

In the output folder, only while a run is unfinished:
- `.per_image.partial.json`: the run's settings (folders and a digest of their files, metrics, options);
- `.per_image.partial.csv`: rank 0's rows (a single process is rank 0), and after a resume every row kept from before;
- `.per_image.partial.r<k>.csv`: rank k's rows. Each rank appends only to its own file, after the batch's features
  are on disk (bfrbench.engine.feature_store), so a row always has its features.
Rank 0 reads them back at the start of a run (`resume_rows`, then `start` rewrites them as one file) and at the end
(`read_rows`). Rows of a run with other settings are discarded with a warning: the scores are recomputed, which
changes nothing but the time taken.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path

from bfrbench.io.atomic import write_text_atomic

log = logging.getLogger(__name__)

PARTIAL_CSV = ".per_image.partial.csv"
PARTIAL_META = ".per_image.partial.json"
_RANK_GLOB = ".per_image.partial.r*.csv"


def rank_csv(out: Path, rank: int) -> Path:
    return out / PARTIAL_CSV if rank == 0 else out / f".per_image.partial.r{rank}.csv"


def _files(out: Path) -> list[Path]:
    return [out / PARTIAL_CSV, *sorted(out.glob(_RANK_GLOB))]


def csv_text(names: list[str], rows: list[tuple[str, list[float]]], header: bool = True) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(["stem", *names])
    for stem, values in rows:
        writer.writerow([stem, *(repr(float(v)) for v in values)])
    return buf.getvalue()


def _read_file(path: Path, names: list[str], wanted: set[str]) -> dict[str, list[float]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    # A crash can cut the last line short; only newline-terminated lines are complete.
    complete = text[: text.rfind("\n") + 1]
    lines = list(csv.reader(io.StringIO(complete)))
    if not lines or lines[0] != ["stem", *names]:
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


def read_rows(out: Path, names: list[str], wanted: set[str]) -> dict[str, list[float]]:
    """Every complete row of every rank's file (a stem scored twice has the same values: the same batch)."""
    rows: dict[str, list[float]] = {}
    for path in _files(out):
        rows.update(_read_file(path, names, wanted))
    return rows


def resume_rows(out: Path, settings: dict, wanted: set[str]) -> dict[str, list[float]]:
    """Rows of an interrupted run with identical settings; anything else is discarded with a log message."""
    if not any(p.is_file() for p in _files(out)):
        return {}
    try:
        previous = json.loads((out / PARTIAL_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    if previous != settings:
        log.warning("%s: left by a run with other settings; starting over", out / PARTIAL_CSV)
        return {}
    return read_rows(out, settings["metrics"], wanted)


def start(out: Path, settings: dict, done: dict[str, list[float]]) -> None:
    """Rank 0, before any rank writes: the settings, and the rows kept as one file (dropping a cut-off last line,
    rows of images no longer present and the other ranks' files)."""
    write_text_atomic(out / PARTIAL_META, json.dumps(settings, indent=2) + "\n")
    write_text_atomic(out / PARTIAL_CSV, csv_text(settings["metrics"], sorted(done.items())))
    for path in sorted(out.glob(_RANK_GLOB)):
        path.unlink(missing_ok=True)


def open_rank(out: Path, rank: int, names: list[str]) -> Path:
    """The file rank `rank` appends to (rank 0's exists after `start`; another rank's starts with its header)."""
    path = rank_csv(out, rank)
    if rank != 0:
        write_text_atomic(path, csv_text(names, []))
    return path


def append(path: Path, names: list[str], rows: dict[str, list[float]]) -> None:
    with open(path, "a", encoding="utf-8", newline="") as f:
        f.write(csv_text(names, list(rows.items()), header=False))
        f.flush()
        os.fsync(f.fileno())


def remove(out: Path) -> None:
    for path in _files(out):
        path.unlink(missing_ok=True)
    (out / PARTIAL_META).unlink(missing_ok=True)
