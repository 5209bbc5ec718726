"""The report's "Seed spread" table: for each stochastic method restored with `restore.seeds` > 1 seeds
(bfrbench.stages.seeds), mean +- sample standard deviation of each metric over the seeds, beside the main table
(whose row is seed 0, the pipeline's own restore)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from bfrbench import paths


def seed_spread_section(testset: str, methods: Sequence[str], seeds_root: Path = paths.SEEDS) -> tuple[list[str], str]:
    from bfrbench.report.cells import column_title, format_number

    rows = {}
    for method in methods:
        path = Path(seeds_root) / method / testset / "summary.json"
        if path.is_file():
            summary = json.loads(path.read_text(encoding="utf-8"))
            if summary.get("metrics"):
                rows[method] = summary
    if not rows:
        return [], ""
    metrics = [m for m in next(iter(rows.values()))["metrics"] if all(m in r["metrics"] for r in rows.values())]
    header = ["method", "seeds", *(column_title(m) for m in metrics)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows_html = []
    for method, summary in rows.items():
        cells = [method, str(summary["seeds"]),
                 *(f"{format_number(summary['metrics'][m]['mean'])} ± {format_number(summary['metrics'][m]['std'])}"
                   for m in metrics)]
        lines.append("| " + " | ".join(cells) + " |")
        rows_html.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    caption = ("Seed spread: stochastic methods restored with more seeds (params restore.seeds), mean ± sample "
               "standard deviation over the seeds (seed 0 is the row of the table above).")
    page = (f"<p>{html.escape(caption)}</p><table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr></thead><tbody>" + "".join(rows_html) + "</tbody></table>")
    return ["", caption, "", *lines], page
