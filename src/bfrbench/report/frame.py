"""The leaderboard as data: one pandas DataFrame per test set, the single source of every rendering of it.

`leaderboard_frame` turns a test set's score summaries (`bfrbench.report.leaderboard.collect`) into a DataFrame:
rows are the methods and submissions (index "method", a submission labelled "NAME (submitted outputs)"), columns
the metrics holding a number for at least one row, then "NFE"; values are floats (NaN where there is none). What a
number alone cannot say rides in `df.attrs`:

- `metrics`: per metric column, its direction (`higher_better`, `arrow`), unit, range and protocol (the registry's);
- `status`: {row: {metric: "missing" | "unavailable" | "n/a"}} for cells without a number;
- `few`: {row: [metric]}: Fréchet values on fewer images than feature dimensions (a dagger);
- `n`: {row: {metric: images scored}}; `testset`, `caption`, `notes` (why cells are empty), `few_notes`.

The Markdown, HTML, CSV and LaTeX renderings (`bfrbench.report.render`) read only this frame, so they cannot
disagree. pandas' attrs are the documented place for such metadata; they survive copies and slicing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bfrbench.report.cells import format_number, has_value, not_applicable

NFE = "NFE"
MISSING, UNAVAILABLE, NOT_APPLICABLE = "missing", "unavailable", "n/a"


def row_label(method: str, params: Mapping[str, Any]) -> str:
    return f"{method} (submitted outputs)" if method in (params.get("submissions") or {}) else method


def _status(row: Mapping[str, Any], entry: Any) -> str | None:
    """None for a cell holding a number; else what the cell says instead."""
    if "_missing" in row:
        return MISSING
    if not isinstance(entry, dict):
        return NOT_APPLICABLE
    if not_applicable(entry):
        return NOT_APPLICABLE
    if "unavailable" in entry:
        return UNAVAILABLE
    if not isinstance(entry.get("value"), (int, float)):
        return NOT_APPLICABLE
    return None


def _metric_meta(name: str) -> dict[str, Any]:
    from bfrbench.metrics.registry import METRICS

    spec = METRICS.get(name)
    if spec is None:  # a name the registry does not know (an old summary): shown, never ranked
        return {"higher_better": None, "arrow": "", "unit": "", "range": None, "protocol": ""}
    return {"higher_better": spec.higher_better, "arrow": "↑" if spec.higher_better else "↓", "unit": spec.unit,
            "range": list(spec.value_range), "protocol": spec.protocol}


def leaderboard_frame(testset: str, table: Mapping[str, Any], params: Mapping[str, Any], caption: str,
                      notes: list[str], nfe: Mapping[str, float | None]) -> pd.DataFrame:
    """The test set's DataFrame (see the module docstring). `table` is one entry of `collect`; `nfe` maps a row's
    method to its network evaluations per image (None when its restore left no speed file)."""
    rows: Mapping[str, Mapping[str, Any]] = table["rows"]
    metric_names = [n for n in table["metrics"] if any(has_value(r.get(n)) for r in rows.values())]
    labels = [row_label(m, params) for m in rows]
    data: dict[str, list[float]] = {name: [] for name in [*metric_names, NFE]}
    status: dict[str, dict[str, str]] = {}
    few: dict[str, list[str]] = {}
    counts: dict[str, dict[str, int]] = {}
    few_flags: set[tuple[str, int, int, int]] = set()
    for (method, row), label in zip(rows.items(), labels):
        for name in metric_names:
            entry = row.get(name)
            state = _status(row, entry)
            if state is not None:
                status.setdefault(label, {})[name] = state
                data[name].append(math.nan)
                continue
            data[name].append(float(entry["value"]))
            if isinstance(entry.get("n"), int):
                counts.setdefault(label, {})[name] = entry["n"]
            if entry.get("few_images"):
                few.setdefault(label, []).append(name)
                few_flags.add((name, int(entry.get("n", 0)), int(entry.get("n_reference") or 0),
                               int(entry.get("dims", 0))))
        value = nfe.get(method)
        data[NFE].append(float(value) if isinstance(value, (int, float)) else math.nan)
        if not isinstance(value, (int, float)):
            status.setdefault(label, {})[NFE] = NOT_APPLICABLE
    df = pd.DataFrame(data, index=pd.Index(labels, name="method"), columns=[*metric_names, NFE], dtype=float)
    few_notes = [f"† {m}: computed on fewer images than its {d} feature dimensions (n {n}"
                 + (f", reference {r}" if r else "") + "): the covariance is rank-deficient, so the value is biased "
                 "and unstable; compare it only with rows of the same n" for m, n, r, d in sorted(few_flags)]
    meta = {name: _metric_meta(name) for name in metric_names}
    meta[NFE] = {"higher_better": None, "arrow": "", "unit": "per image", "range": None,
                 "protocol": "network evaluations per image"}
    df.attrs.update(testset=testset, caption=caption, metrics=meta, status=status, few=few, n=counts,
                    notes=list(notes), few_notes=few_notes,
                    methods={label: method for method, label in zip(rows, labels)})
    return df


def ranked(df: pd.DataFrame, metric: str) -> tuple[set[str], set[str]]:
    """(best rows, second-best rows) of a metric column by its direction: best when at least two rows hold a
    number, second when at least three do and a second distinct value exists; ties share the rank. NaN (undefined)
    and columns without a direction (NFE) rank nothing."""
    higher = df.attrs["metrics"][metric]["higher_better"]
    values = df[metric].dropna()
    if higher is None or len(values) < 2:
        return set(), set()
    distinct = sorted(set(values.tolist()), reverse=bool(higher))
    best = set(values.index[values == distinct[0]])
    second = set(values.index[values == distinct[1]]) if len(values) >= 3 and len(distinct) >= 2 else set()
    return best, second


def cell_text(df: pd.DataFrame, row: str, metric: str) -> str:
    """A cell as the tables print it: the number (4 decimals below 10, else 2) with a dagger when flagged, or its
    status ("missing", "unavailable", "n/a")."""
    state = df.attrs["status"].get(row, {}).get(metric)
    if state is not None:
        return state
    value = df.at[row, metric]
    if metric == NFE:
        return f"{value:g}"
    text = format_number(value)
    if metric in df.attrs["few"].get(row, []):
        text += " †"
    return text


def tidy(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every test set's frame in long form (one row per test set, row and metric): the CSV's content, with the
    direction, the images scored and the cell's status beside each value."""
    records = []
    for testset, df in frames.items():
        for row in df.index:
            for metric in df.columns:
                meta = df.attrs["metrics"][metric]
                records.append({
                    "testset": testset, "method": row, "metric": metric, "value": df.at[row, metric],
                    "higher_better": meta["higher_better"],
                    "n": df.attrs["n"].get(row, {}).get(metric),
                    "status": df.attrs["status"].get(row, {}).get(metric, "few_images"
                                                                 if metric in df.attrs["few"].get(row, []) else "ok"),
                })
    out = pd.DataFrame.from_records(records, columns=["testset", "method", "metric", "value", "higher_better", "n",
                                                      "status"])
    return out.astype({"n": "Int64", "higher_better": "boolean"})  # counts print as 3, not 3.0; missing as empty


def values_only(df: pd.DataFrame) -> pd.DataFrame:
    """The metric columns without NFE (what the perception-distortion plot and the HTML page's sorting read)."""
    return df.drop(columns=[NFE])


def nfe_values(methods: list[str], testset: str, speed_dir: Path) -> dict[str, float | None]:
    from bfrbench.engine.restore_speed import read_meta

    out: dict[str, float | None] = {}
    for method in methods:
        nfe = read_meta(Path(speed_dir) / method / f"{testset}.json").get("nfe")
        out[method] = float(nfe) if isinstance(nfe, (int, float)) else None
    return out
