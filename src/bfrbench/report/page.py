"""The leaderboard's HTML page (reports/leaderboard.html): self-contained (styles and script inline, no CDN), so it
opens offline; images are files beside it under reports/.

`build_page` takes what `bfrbench.report.leaderboard.build_report` assembled per test set (`PageSection`) and
returns the page's text. Deterministic: no time stamp, no absolute path (DVC hashes reports/).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GridSpec:
    """The image grid of a test set: `columns` are (label, {stem: path relative to reports/}) in display order
    (LQ, each method and submission, GT); `stems` the faces shown, in order."""

    columns: Sequence[tuple[str, Mapping[str, str]]]
    stems: Sequence[str]


@dataclass(frozen=True)
class PageSection:
    testset: str
    caption: str
    table_html: str  # bfrbench.report.render.html_table: class "board", cells class "best"/"second"
    notes_html: str  # notes, seed spread, quoted published tables, per-level breakdown (already HTML)
    grid: GridSpec | None = None
    # {metric: {row: [(stem, value, {column label: path relative to reports/})]}}: each row's worst faces by metric
    worst: Mapping[str, Mapping[str, Sequence[tuple[str, float, Mapping[str, str]]]]] = field(default_factory=dict)
    plots: Sequence[str] = ()  # image paths relative to reports/ (PNG; an SVG beside each is linked)


def build_page(profile: str, sections: Sequence[PageSection], appendix_html: str,
               downloads: Sequence[tuple[str, str]]) -> str:
    """The page: title, download links (label, relative path), one section per test set, then `appendix_html`
    (FLIPNET tables, protocols, methods, submissions)."""
    parts = [f"<h1>bfrbench leaderboard: profile {html.escape(profile)}</h1>",
             "<p>↑ higher is better, ↓ lower is better; bold = best, underlined = second.</p>"]
    if downloads:
        parts.append("<p>" + " · ".join(f'<a href="{html.escape(path)}">{html.escape(label)}</a>'
                                         for label, path in downloads) + "</p>")
    for s in sections:
        parts.append(f"<h2>{html.escape(s.testset)}</h2><p>{html.escape(s.caption)}</p>{s.table_html}{s.notes_html}")
        for plot in s.plots:
            parts.append(f'<p><img src="{html.escape(plot)}" alt="{html.escape(plot)}"></p>')
        if s.grid:
            rows = ["<tr>" + "".join(f"<th>{html.escape(label)}</th>" for label, _ in s.grid.columns) + "</tr>"]
            for stem in s.grid.stems:
                rows.append("<tr>" + "".join(
                    f'<td><img src="{html.escape(files[stem])}" alt="{html.escape(label)} {html.escape(stem)}"></td>'
                    if stem in files else "<td></td>" for label, files in s.grid.columns) + "</tr>")
            parts.append('<table class="grid">' + "".join(rows) + "</table>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
             ".best{font-weight:bold}.second{text-decoration:underline}table.grid img{width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>bfrbench leaderboard</title>"
            f"<style>{style}</style></head><body>" + "".join(parts) + appendix_html + "</body></html>\n")
