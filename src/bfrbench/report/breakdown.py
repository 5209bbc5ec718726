"""The DifFace grid test set broken down by degradation level: one table per factor (downscale factor, noise level,
JPEG quality, blur sigma), rows = the factor's levels, columns = the rows of the leaderboard, cells = the mean of a
per-image metric over the faces degraded at that level (pandas groupby over the test set's manifest.csv joined with
each row's per_image.csv by stem).

Why: one number over the 4,000 grid images hides where a method breaks; DifFace's journal version plots exactly these
curves. Metrics: params.yaml `report.breakdown_metrics` (default psnr_rgb and lpips_alex where scored).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# manifest column -> what the table calls it
FACTORS = {"scale": "downscale factor", "noise": "noise level", "jpeg_quality": "JPEG quality",
           "sigma_x": "blur sigma (x)"}
DEFAULT_METRICS = ("psnr_rgb", "lpips_alex")


def applies(meta: Mapping[str, Any]) -> bool:
    return meta.get("preset") == "difface_grid"


def breakdown_tables(testset_dir: Path, score_dirs: Mapping[str, Path],
                     metrics: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """{metric: {factor: DataFrame (levels x rows)}} for the metrics some row scored per image; {} without data."""
    import pandas as pd

    manifest = Path(testset_dir) / "manifest.csv"
    if not manifest.is_file():
        return {}
    grid = pd.read_csv(manifest, dtype={"name": str}).set_index("name")
    scores = {}
    for row, folder in score_dirs.items():
        path = Path(folder) / "per_image.csv"
        if path.is_file():
            scores[row] = pd.read_csv(path, dtype={"stem": str}).set_index("stem")
    if not scores:
        return {}
    wanted = [m for m in (metrics or DEFAULT_METRICS) if any(m in df.columns for df in scores.values())]
    out: dict[str, dict[str, Any]] = {}
    for metric in wanted:
        per_factor = {}
        for factor in (f for f in FACTORS if f in grid.columns):
            columns = {row: df[metric].groupby(grid[factor].reindex(df.index)).mean()
                       for row, df in scores.items() if metric in df.columns}
            per_factor[factor] = pd.DataFrame(columns).sort_index()
        out[metric] = per_factor
    return out


def breakdown_section(testset: str, testset_dir: Path, score_dirs: Mapping[str, Path],
                      metrics: Sequence[str] | None = None) -> tuple[list[str], str]:
    """Markdown lines and HTML (empty when there is nothing to break down)."""
    from bfrbench.report.cells import column_title, format_number

    tables = breakdown_tables(testset_dir, score_dirs, metrics)
    if not tables:
        return [], ""
    md = ["", f"### {testset} by degradation level", "",
          "Mean of each per-image metric over the faces degraded at one level of one factor (the other factors vary "
          "over the grid): where a method breaks, not only how it does overall."]
    page = f"<h3>{html.escape(testset)} by degradation level</h3>"
    for metric, per_factor in tables.items():
        for factor, frame in per_factor.items():
            header = [f"{FACTORS[factor]} \\ {column_title(metric)}", *frame.columns]
            md += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            rows_html = []
            for level, values in frame.iterrows():
                cells = [f"{level:g}", *(format_number(v) if v == v else "n/a" for v in values)]
                md.append("| " + " | ".join(cells) + " |")
                rows_html.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            page += ("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                     + "</tr></thead><tbody>" + "".join(rows_html) + "</tbody></table>")
    return md, page


def breakdown_frame(testset_dir: Path, score_dirs: Mapping[str, Path],
                    metrics: Sequence[str] | None = None) -> Any:
    """The data of `breakdown_tables` as one tidy DataFrame, columns factor (manifest column, a key of FACTORS),
    level, method (the row), metric, value (the mean over the faces at that level); rows sorted by metric, factor
    (FACTORS order), level and method. Empty (with those columns) without data. `plots.level_curves` draws it."""
    import pandas as pd

    columns = ["factor", "level", "method", "metric", "value"]
    records = []
    for metric, per_factor in breakdown_tables(testset_dir, score_dirs, metrics).items():
        for factor, frame in per_factor.items():
            for level, values in frame.iterrows():
                for method, value in values.items():
                    records.append((factor, level, str(method), metric, float(value)))
    out = pd.DataFrame.from_records(records, columns=columns)
    order = {f: i for i, f in enumerate(FACTORS)}
    return out.sort_values(["metric", "factor", "level", "method"], key=lambda s: s.map(order) if s.name == "factor"
                           else s, kind="stable").reset_index(drop=True)
