"""Published numbers as data: one YAML file per published table (`published_tables/*.yaml` in this package), quoted
beside the suite's rows on the test sets they were measured on, never mixed into the suite's tables or bolding.

Each file names the paper, the table, whether it was read in the paper (primary) or transcribed from another
document (secondary), the test sets it applies to, each column's protocol, and the values as printed. A published
column is put next to a suite column only when the file says their protocols are the same by name (`suite_metric`,
checked against the metric registry); otherwise it stands alone with its protocol in the caption: the field's
numbers differ more by protocol (FID reference, identity network, colour space) than by method.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from bfrbench.errors import ConfigError

PACKAGE_DIR = "published_tables"
DOC = "docs/metrics.md"  # where the quoted tables and their protocols are also transcribed
FILE_KEYS = {"paper", "table", "source", "transcribed_from", "testsets", "description_contains", "columns", "rows"}
COLUMN_KEYS = {"name", "higher_better", "protocol", "suite_metric"}


def _check(name: str, doc: Any) -> dict[str, Any]:
    from bfrbench.metrics.registry import METRICS

    where = f"bfrbench/report/{PACKAGE_DIR}/{name}"
    if not isinstance(doc, dict) or set(doc) != FILE_KEYS:
        raise ConfigError(f"{where}: expected the keys {sorted(FILE_KEYS)}")
    if doc["source"] not in ("primary", "secondary"):
        raise ConfigError(f"{where}: source is primary or secondary, got {doc['source']!r}")
    for col in doc["columns"]:
        if set(col) != COLUMN_KEYS:
            raise ConfigError(f"{where}: column {col.get('name')!r}: expected the keys {sorted(COLUMN_KEYS)}")
        if col["suite_metric"] is not None and col["suite_metric"] not in METRICS:
            raise ConfigError(f"{where}: column {col['name']!r}: no suite metric {col['suite_metric']!r}")
    for method, row in doc["rows"].items():
        if len(row["values"]) != len(doc["columns"]):
            raise ConfigError(f"{where}: row {method!r} has {len(row['values'])} values for "
                              f"{len(doc['columns'])} columns")
    return {**doc, "file": name}


@lru_cache(maxsize=1)
def published_tables() -> tuple[dict[str, Any], ...]:
    """Every published table shipped with the package, checked, in file-name order."""
    from importlib.resources import files

    import yaml

    folder = files("bfrbench.report").joinpath(PACKAGE_DIR)
    return tuple(_check(f.name, yaml.safe_load(f.read_text(encoding="utf-8")))
                 for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".yaml"))


def applies(table: Mapping[str, Any], testset: str, meta: Mapping[str, Any]) -> bool:
    return testset in table["testsets"] or table["description_contains"] in str(meta.get("description", ""))


def _number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"


def _suite_cell(rows: Mapping[str, Mapping[str, Any]], method: str | None, metric: str) -> str:
    from bfrbench.report.cells import format_number

    entry = (rows.get(method) or {}).get(metric) if method else None
    return format_number(entry["value"]) if isinstance(entry, dict) and "value" in entry else "-"


def quoted_tables(testset: str, meta: Mapping[str, Any], methods: Sequence[str],
                  suite_rows: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[list[str], str]:
    """Markdown lines and HTML for every published table that applies to `testset` (empty when none does). A column
    whose protocol matches a suite metric by name is followed by that metric's value for the suite row that
    reproduces the published method (`suite_rows`: the test set's rows, metric -> summary entry)."""
    md: list[str] = []
    page = ""
    for table in (t for t in published_tables() if applies(t, testset, meta)):
        header = ["published method (quoted)", "suite row"]
        for col in table["columns"]:
            arrow = "↑" if col["higher_better"] else "↓"
            header.append(f"{col['name']} {arrow}")
            if col["suite_metric"]:
                header.append(f"suite {col['suite_metric']}")
        source = (f"{table['paper']}, {table['table']}; {table['source']} source"
                  + (f", transcribed from {table['transcribed_from']}" if table["source"] == "secondary" else ""))
        protocols = "; ".join(f"{c['name']}: {c['protocol']}" for c in table["columns"])
        caption = f"Published numbers, QUOTED, not measured by this suite ({source}). Their protocols: {protocols}."
        lines, rows_html = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)], []
        for published, row in table["rows"].items():
            ours = row["suite_method"] if row["suite_method"] in methods else None
            cells = [f"{published} (quoted)", ours or "-"]
            for col, value in zip(table["columns"], row["values"]):
                cells.append(_number(float(value)))
                if col["suite_metric"]:
                    cells.append(_suite_cell(suite_rows or {}, ours, col["suite_metric"]))
            lines.append("| " + " | ".join(cells) + " |")
            rows_html.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        md += ["", caption, "", *lines]
        page += (f"<p><i>{html.escape(caption)}</i></p><table><thead><tr>"
                 + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>"
                 + "".join(rows_html) + "</tbody></table>")
    return md, page


def published_points(testset: str, meta: Mapping[str, Any]):
    """The published rows that can sit on the suite's axes: one row per quoted method ("PAPER: METHOD"), one column
    per suite metric a published column matches by protocol (`suite_metric`), NaN elsewhere; None when no table
    applies or none of its columns matches a suite metric (a column with another protocol is never plotted beside
    the suite's numbers)."""
    import pandas as pd

    records: dict[str, dict[str, float]] = {}
    for table in (t for t in published_tables() if applies(t, testset, meta)):
        for published, row in table["rows"].items():
            for col, value in zip(table["columns"], row["values"]):
                if col["suite_metric"]:
                    records.setdefault(f"{table['paper']}: {published}", {})[col["suite_metric"]] = float(value)
    if not records:
        return None
    return pd.DataFrame.from_dict(records, orient="index")
