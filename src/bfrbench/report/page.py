"""The leaderboard's HTML page (reports/leaderboard.html): self-contained (styles and script inline, no CDN), so it
opens offline; images are files beside it under reports/ (`copy_images` puts them in reports/images/).

`build_page` takes what `bfrbench.report.leaderboard.build_report` assembled per test set (`PageSection`) and
returns the page's text. Deterministic: no time stamp, no random id, no absolute path (DVC hashes reports/).

What the page does (the script is assets/page.js, the styles assets/page.css, both inlined):

- every `table.board` sorts by a column when its header is clicked (numbers read from the cell text, cells without
  one last; a second click reverses; the first click puts the best first when the header has an arrow);
- the image grid fits the page width; a click on a tile opens it at full resolution in an overlay (click or Escape
  closes it);
- any two columns of the grid side by side at full resolution, for a chosen face;
- each row's worst faces by a chosen metric, with their values (a click zooms);
- the plots (PNG, the SVG beside each linked) and the download links.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

import pandas as pd

from bfrbench.io.atomic import atomic_path
from bfrbench.io.images import IMAGE_SUFFIXES
from bfrbench.report.cells import format_number


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


def _asset(name: str) -> str:
    return resources.files("bfrbench.report").joinpath("assets", name).read_text(encoding="utf-8")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def slug(text: str) -> str:
    """A file or folder name for a label: runs of characters other than letters, digits, `_` and `-` become `_`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "_"


def _img(path: str, alt: str, cls: str, extra: str = "") -> str:
    return f'<img class="{cls}" src="{_e(path)}" alt="{_e(alt)}" title="{_e(alt)}" loading="lazy"{extra}>'


def _grid_html(sid: str, grid: GridSpec) -> str:
    labels = [label for label, _ in grid.columns]
    cells = ['<div class="gh">face</div>'] + [f'<div class="gh">{_e(label)}</div>' for label in labels]
    for si, stem in enumerate(grid.stems):
        cells.append(f'<div class="gs">{_e(stem)}</div>')
        for ci, (label, files) in enumerate(grid.columns):
            if stem in files:
                cells.append('<div class="gt">' + _img(files[stem], f"{label}: {stem}", "zoomable tile",
                                                       f' data-c="{ci}" data-s="{si}"') + "</div>")
            else:
                cells.append('<div class="gt empty">no image</div>')
    grid_div = (f'<div class="grid" id="{sid}-grid" style="--cols:{len(labels)}">' + "".join(cells) + "</div>")
    out = [f'<h3>Faces</h3><p class="hint">Click a face to see it at full resolution.</p>{grid_div}']
    if len(labels) >= 2 and grid.stems:
        def select(role: str, options: Sequence[str], chosen: int) -> str:
            opts = "".join(f'<option value="{i}"{" selected" if i == chosen else ""}>{_e(o)}</option>'
                           for i, o in enumerate(options))
            return f'<select class="cmp-{role}" aria-label="{role}">{opts}</select>'

        out.append(
            f'<div class="compare" data-grid="{sid}-grid"><h3>Compare</h3><p class="controls">'
            f"<label>Left {select('a', labels, 0)}</label> <label>Right {select('b', labels, 1)}</label> "
            f"<label>Face {select('face', list(grid.stems), 0)}</label></p>"
            '<div class="cmp-view"><figure class="cmp-pane"><figcaption></figcaption><img alt=""></figure>'
            '<figure class="cmp-pane"><figcaption></figcaption><img alt=""></figure></div></div>')
    return "".join(out)


def _worst_html(worst: Mapping[str, Mapping[str, Sequence[tuple[str, float, Mapping[str, str]]]]]) -> str:
    metrics = [m for m, rows in worst.items() if rows]
    if not metrics:
        return ""
    opts = "".join(f'<option value="{i}">{_e(m)}</option>' for i, m in enumerate(metrics))
    out = ['<div class="worst"><h3>Worst faces</h3><p class="controls"><label>Metric '
           f'<select class="worst-metric" aria-label="metric">{opts}</select></label></p>']
    for i, metric in enumerate(metrics):
        blocks = []
        for row, faces in worst[metric].items():
            items = []
            for stem, value, images in faces:
                thumbs = "".join(f'<span class="wt">{_img(path, f"{label}: {stem}", "zoomable")}'
                                 f"<small>{_e(label)}</small></span>" for label, path in images.items())
                items.append(f'<div class="wf"><div class="wv"><b>{_e(stem)}</b> {_e(metric)} '
                             f'<span class="val">{_e(format_number(value))}</span></div>{thumbs}</div>')
            blocks.append(f'<div class="wr"><h4>{_e(row)}</h4>{"".join(items)}</div>')
        hidden = "" if i == 0 else " hidden"
        out.append(f'<div class="worst-set" data-metric="{_e(metric)}"{hidden}>{"".join(blocks)}</div>')
    out.append("</div>")
    return "".join(out)


def _plots_html(plots: Sequence[str]) -> str:
    if not plots:
        return ""
    figs = []
    for plot in plots:
        svg = str(PurePosixPath(plot).with_suffix(".svg"))
        figs.append(f'<figure class="plot">{_img(plot, plot, "zoomable plot-img")}'
                    f'<figcaption><a href="{_e(svg)}">SVG</a></figcaption></figure>')
    return "<h3>Plots</h3>" + "".join(figs)


def build_page(profile: str, sections: Sequence[PageSection], appendix_html: str,
               downloads: Sequence[tuple[str, str]], title: str | None = None) -> str:
    """The page: title, download links (label, relative path), one section per test set (table, notes, plots,
    grid, comparison, worst faces), then `appendix_html` (FLIPNET tables, protocols, methods, submissions)."""
    parts = [f"<h1>{_e(title or f'bfrbench leaderboard: profile {profile}')}</h1>"]  # title: params report.title
    if downloads:
        parts.append('<nav class="downloads">Download: ' + " · ".join(
            f'<a href="{_e(path)}" download>{_e(label)}</a>' for label, path in downloads) + "</nav>")
    if len(sections) > 1:
        parts.append('<nav class="toc">Test sets: ' + " · ".join(
            f'<a href="#s{i}">{_e(s.testset)}</a>' for i, s in enumerate(sections)) + "</nav>")
    parts.append('<p class="hint">↑ higher is better, ↓ lower is better; bold = best, underlined = second. '
                 "Click a column header to sort by it (again to reverse).</p>")
    for i, s in enumerate(sections):
        sid = f"s{i}"
        parts.append(f'<section id="{sid}"><h2>{_e(s.testset)}</h2><p>{_e(s.caption)}</p>'
                     f'<div class="board-wrap">{s.table_html}</div>{s.notes_html}')
        parts.append(_plots_html(s.plots))
        if s.grid and s.grid.columns:
            parts.append(_grid_html(sid, s.grid))
        parts.append(_worst_html(s.worst))
        parts.append("</section>")
    zoom = ('<div id="zoom" class="zoom" hidden role="dialog" aria-label="full resolution image">'
            '<p class="zoom-bar"><span class="zoom-cap"></span> (click or Escape to close)</p>'
            '<img class="zoom-img" alt=""></div>')
    css, js = _asset("page.css"), _asset("page.js")
    assert "</style" not in css.lower() and "</script" not in js.lower()
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,"><title>bfrbench leaderboard</title>'
            f"<style>{css}</style></head><body>" + "".join(parts) + appendix_html + zoom
            + f"<script>{js}</script></body></html>\n")


def _source(folder: Path, stem: str) -> Path | None:
    for suffix in (".png", *(s for s in IMAGE_SUFFIXES if s != ".png")):
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def copy_images(out_dir: Path, testset: str, columns: Sequence[tuple[str, Path]],
                stems: Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    """Copy the faces the page shows into out_dir/images/<testset>/<column slug>/<stem><suffix> (byte-identical:
    a copy to a temporary name, then os.replace) and return, per column in order, (label, {stem: path relative to
    out_dir, with `/`}): a `GridSpec.columns` value. `columns` are (label, folder holding <stem>.png; another image
    suffix is taken as it is when no PNG exists); a missing file is skipped, as is a stem that is not a plain file
    name. Two labels with the same slug get folders `name`, `name-2`, ..."""
    out_dir = Path(out_dir)
    wanted = list(dict.fromkeys(s for s in stems if s and PurePosixPath(s).name == s and Path(s).name == s
                                and s not in (".", "..")))
    used: set[str] = set()
    out: list[tuple[str, dict[str, str]]] = []
    for label, folder in columns:
        name, n = slug(label), 2
        while name in used:
            name, n = f"{slug(label)}-{n}", n + 1
        used.add(name)
        paths: dict[str, str] = {}
        for stem in wanted:
            src = _source(Path(folder), stem)
            if src is None:
                continue
            rel = PurePosixPath("images", slug(testset), name, stem + src.suffix.lower())
            with atomic_path(out_dir / rel) as tmp:
                shutil.copyfile(src, tmp)
            paths[stem] = str(rel)
        out.append((label, paths))
    return out


def worst_faces(per_image: Mapping[str, pd.DataFrame], higher_better: Mapping[str, bool],
                k: int = 3) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """{metric: {row: [(stem, value)]}}: each row's `k` worst faces by each metric of `higher_better` (its lowest
    values when higher is better, else its highest; ties by stem; NaN and non-numbers ignored). `per_image` maps a
    row to its per-image scores (indexed by stem, a column per metric). Metrics and rows keep their mapping's order;
    a row without the metric, or without a number for it, is left out, and so is a metric no row has."""
    out: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for metric, higher in higher_better.items():
        if higher is None:
            continue
        rows: dict[str, list[tuple[str, float]]] = {}
        for row, df in per_image.items():
            if metric not in df.columns:
                continue
            values = pd.to_numeric(df[metric], errors="coerce")
            pairs = [(str(stem), float(v)) for stem, v in zip(df.index, values) if not pd.isna(v)]
            pairs.sort(key=lambda p: (p[1] if higher else -p[1], p[0]))
            if pairs:
                rows[row] = pairs[:k]
        if rows:
            out[metric] = rows
    return out


def worst_with_images(worst: Mapping[str, Mapping[str, Sequence[tuple[str, float]]]],
                      columns: Sequence[tuple[str, Mapping[str, str]]], context: Sequence[str] = ()
                      ) -> dict[str, dict[str, list[tuple[str, float, dict[str, str]]]]]:
    """`worst_faces`' result with each face's images (a `PageSection.worst` value): for row R, the columns labelled
    R or named in `context` (e.g. the LQ and GT labels), in the order of `columns` (`copy_images`' result)."""
    out: dict[str, dict[str, list[tuple[str, float, dict[str, str]]]]] = {}
    for metric, rows in worst.items():
        for row, faces in rows.items():
            shown = [(label, files) for label, files in columns if label == row or label in context]
            out.setdefault(metric, {})[row] = [
                (stem, value, {label: files[stem] for label, files in shown if stem in files})
                for stem, value in faces]
    return out
