"""Build reports/ from the score summaries: leaderboard.md, .html, .tex, .csv, image grids and plots.

One table per test set (method rows, metric columns with direction arrows), from one DataFrame per test set
(bfrbench.report.frame) that every rendering reads; the protocol of every number; where each method's weights came
from; plots (bfrbench.report.plots); an image grid (LQ / each method / GT) and each row's worst faces on the page
(bfrbench.report.page). No time stamp and no timing: DVC hashes `reports/`, and two clones must write the same
bytes (timings: bfrbench.report.speed)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bfrbench import paths
from bfrbench.report.cells import not_applicable
from bfrbench.report.frame import row_label, values_only
from bfrbench.report.page import PageSection
from bfrbench.report.speed import NFE_NOTE


def _method_source(method: str, models_root: Path) -> str:
    from bfrbench.methods.base import read_card

    sources = []
    root = models_root / method
    if root.is_dir():
        for stage_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            card = read_card(stage_dir)
            if card:
                sources.append(f"{stage_dir.name}: {card.get('source', '?')}")
    return "; ".join(sources) or "no model card found"


def _restore_line(method: str, params: Mapping[str, Any]) -> str:
    """The method's restore settings as the profile sets them (over the method's defaults) and its behaviour line
    (randomness, what its settings change; bfrbench.methods.registry)."""
    from bfrbench.methods.registry import find_method_spec

    settings = (params.get("sampling") or {}).get(method) or {}
    given = ", ".join(f"{k}={v}" for k, v in sorted(settings.items())) if settings else "the method's defaults"
    behaviour = spec.behaviour if (spec := find_method_spec(method)) else "?"  # built-in or plugin
    return f"{given} (params.yaml sampling.{method}); {behaviour}"


def _submissions_section(params: Mapping[str, Any]) -> tuple[list[str], str]:
    """Who entered each "submitted outputs" row and where to read about it (nothing when there are none)."""
    subs = params.get("submissions") or {}
    if not subs:
        return [], ""
    md, items = ["", "## Submitted outputs", "",
                 "Rows marked \"submitted outputs\" were scored from folders entered with `bfrbench submit` "
                 "(submissions/NAME/TESTSET), with the same metrics and protocols as the methods' restores; the suite "
                 "did not train or run these methods.", ""], []
    for name, entry in subs.items():
        url = f" ({entry['url']})" if entry.get("url") else ""
        testsets = ", ".join(entry.get("outputs") or {})
        md.append(f"- **{name}**: {entry.get('description') or 'no description'}{url}; test sets: {testsets}.")
        items.append(f"<li><b>{html.escape(name)}</b>: {html.escape(entry.get('description') or 'no description')}"
                     f"{html.escape(url)}; test sets: {html.escape(testsets)}.</li>")
    return md, "<h2>Submitted outputs</h2><ul>" + "".join(items) + "</ul>"


def collect(params: Mapping[str, Any], scores_root: Path = paths.SCORES) -> dict[str, Any]:
    """Read every (method or submission, test set) summary; missing summaries are reported, not skipped silently."""
    from bfrbench.config import submissions_for
    from bfrbench.metrics.registry import METRICS
    from bfrbench.stages.testsets import read_meta

    tables = {}
    for testset in params["testsets"]:
        meta = read_meta(paths.testset_dir(testset))
        rows = {}
        metric_names: list[str] = []
        for method in [*params["methods"], *submissions_for(params, testset)]:
            summary_path = scores_root / method / testset / "summary.json"
            if not summary_path.is_file():
                rows[method] = {"_missing": f"{summary_path} not found"}
                continue
            summary = json.loads(summary_path.read_text())
            rows[method] = summary.get("metrics", {})
            for name in rows[method]:
                if name not in metric_names:
                    metric_names.append(name)
        order = {name: i for i, name in enumerate(METRICS)}
        metric_names.sort(key=lambda n: order.get(n, len(order)))
        # A column no method could score because the set has no ground truth is dropped and said once.
        dropped = [n for n in metric_names if rows and all(not_applicable(r.get(n)) for r in rows.values()
                                                           if "_missing" not in r)]
        metric_names = [n for n in metric_names if n not in dropped]
        tables[testset] = {"meta": meta, "rows": rows, "metrics": metric_names, "not_applicable": dropped}
    return tables


def _reason_notes(rows: Mapping[str, Mapping[str, Any]], metric_names: list[str]) -> list[str]:
    """One line per (metric, reason), naming the methods it applies to ("all methods" when it is every one)."""
    notes = [f"- {method}: {row['_missing']}" for method, row in rows.items() if "_missing" in row]
    scored = [m for m, r in rows.items() if "_missing" not in r]
    for name in metric_names:
        by_reason: dict[str, list[str]] = {}
        for method in scored:
            entry = rows[method].get(name)
            if isinstance(entry, dict) and "unavailable" in entry:
                by_reason.setdefault(str(entry["unavailable"]), []).append(method)
        for reason, methods in by_reason.items():
            who = "all methods" if methods == scored and len(scored) > 1 else ", ".join(methods)
            notes.append(f"- {name} ({who}): {reason}")
    return notes


def _testset_caption(name: str, meta: Mapping[str, Any]) -> str:
    if not meta:
        return f"{name} (no meta.json found)"
    parts = [meta.get("kind", "?"), f"{meta.get('count', '?')} faces at {meta.get('size', '?')} px"]
    if meta.get("kind") == "synthetic":
        parts.append(f"degradation preset `{meta.get('preset')}` ({meta.get('preset_source', '')}), "
                     f"seed {meta.get('seed')}, HQ from split `{meta.get('source_split')}`")
    elif meta.get("kind") == "folder":
        parts.append(f"pre-made pairs from {meta.get('lq')} / {meta.get('hq')}")
    else:
        parts.append(f"real LQ, no ground truth, from {meta.get('source')}")
    return f"{name}: " + "; ".join(parts)


def _testset_section(testset: str, table: Mapping[str, Any], params: Mapping[str, Any], out_dir: Path,
                     speed_dir: Path) -> tuple[pd.DataFrame, list[str], PageSection]:
    """One test set: its frame, its Markdown lines and its page section (table, notes, plots, grid, worst faces)."""
    from bfrbench.config import submissions_for
    from bfrbench.io.images import write_image
    from bfrbench.report.breakdown import applies, breakdown_section
    from bfrbench.report.frame import leaderboard_frame, nfe_values
    from bfrbench.report.grid import make_grid
    from bfrbench.report.page import GridSpec, copy_images, worst_faces, worst_with_images
    from bfrbench.report.plots import perception_distortion
    from bfrbench.report.published import published_points, quoted_tables
    from bfrbench.report.render import html_table, markdown_table
    from bfrbench.report.seed_spread import seed_spread_section

    meta, rows = table["meta"], table["rows"]
    caption = _testset_caption(testset, meta)
    notes = _reason_notes(rows, table["metrics"])
    if table["not_applicable"]:
        notes.append(f"- not applicable (no ground truth): {', '.join(table['not_applicable'])}")
    df = leaderboard_frame(testset, table, params, caption, notes, nfe_values(list(rows), testset, speed_dir))
    md = [f"## {testset}", "", caption, "", *markdown_table(df)]
    if notes:
        md += ["", "Not computed:", *notes]
    md += [line for note in df.attrs["few_notes"] for line in ("", note)]
    md += ["", NFE_NOTE]
    notes_html = ("<ul>" + "".join(f"<li>{html.escape(n[2:])}</li>" for n in notes) + "</ul>" if notes else "")
    notes_html += "".join(f"<p>{html.escape(n)}</p>" for n in df.attrs["few_notes"])
    notes_html += f"<p>{html.escape(NFE_NOTE)}</p>"
    spread_md, spread_html = seed_spread_section(testset, params["methods"])
    quoted_md, quoted_html = quoted_tables(testset, meta, params["methods"], rows)
    md += spread_md + quoted_md
    notes_html += spread_html + quoted_html
    values = values_only(df)
    higher = {m: df.attrs["metrics"][m]["higher_better"] for m in values.columns}
    plots = perception_distortion(values, higher, testset, out_dir, published_points(testset, meta))
    if applies(meta):  # the DifFace grid, per degradation level
        score_dirs = {m: paths.score_dir(m, testset) for m in rows}
        level_md, level_html = breakdown_section(testset, paths.testset_dir(testset), score_dirs,
                                                 (params.get("report") or {}).get("breakdown_metrics"))
        md += level_md
        notes_html += level_html
        plots += _level_plots(testset, {row_label(m, params): d for m, d in score_dirs.items()}, params, out_dir)
    png_plots = [str(p.relative_to(out_dir)) for p in plots if p.suffix == ".png"]
    md += [f"![{testset}: {p}]({p})" for p in png_plots]
    lq_dir = paths.testset_dir(testset) / "lq"
    columns = [("LQ", lq_dir)] + [(m, paths.result_dir(m, testset)) for m in params["methods"]] + \
        [(row_label(s, params), paths.submission_dir(s, testset)) for s in submissions_for(params, testset)]
    if meta.get("has_gt"):
        columns.append(("GT", paths.testset_dir(testset) / "hq"))
    n = int((params.get("report") or {}).get("grid_images", 4))
    stems = sorted(p.stem for p in lq_dir.glob("*.png"))[:n] if lq_dir.is_dir() else []
    grid, worst = None, {}
    if stems:
        grid_name = f"grid_{testset}.png"
        write_image(out_dir / grid_name, make_grid(columns, stems, int(params["size"])))
        md += ["", f"![{testset}: {' | '.join(name for name, _ in columns)}]({grid_name})"]
        per_image = _per_image(rows, testset, params)
        worst_stems = worst_faces(per_image, {m: h for m, h in higher.items() if h is not None},
                                  k=int((params.get("report") or {}).get("worst_images", 3)))
        shown = sorted(set(stems) | {stem for by_row in worst_stems.values() for faces in by_row.values()
                                     for stem, _ in faces})
        copied = copy_images(out_dir, testset, columns, shown)
        grid = GridSpec(columns=copied, stems=stems)
        worst = worst_with_images(worst_stems, copied, context=("LQ", "GT"))
    md.append("")
    section = PageSection(testset=testset, caption=caption, table_html=html_table(df), notes_html=notes_html,
                          grid=grid, worst=worst, plots=png_plots)
    return df, md, section


def _per_image(rows: Mapping[str, Any], testset: str, params: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """{row label: per-image scores indexed by stem} for the rows that wrote per_image.csv."""
    import pandas as pd

    out = {}
    for method in rows:
        path = paths.score_dir(method, testset) / "per_image.csv"
        if path.is_file():
            out[row_label(method, params)] = pd.read_csv(path, dtype={"stem": str}).set_index("stem")
    return out


def _level_plots(testset: str, score_dirs: Mapping[str, Path], params: Mapping[str, Any], out_dir: Path) -> list[Path]:
    from bfrbench.report.breakdown import breakdown_frame
    from bfrbench.report.plots import level_curves

    levels = breakdown_frame(paths.testset_dir(testset), score_dirs,
                             (params.get("report") or {}).get("breakdown_metrics"))
    return level_curves(levels, testset, out_dir) if levels is not None and len(levels) else []


def _appendix(params: Mapping[str, Any], used_metrics: list[str]) -> tuple[list[str], str]:
    """FLIPNET's tables, the protocols of every metric shown, the methods and the submissions."""
    from bfrbench.methods.registry import find_method_spec
    from bfrbench.metrics.registry import METRICS
    from bfrbench.report.flipnet_tables import flipnet_sections

    md, page = flipnet_sections(params)  # realism and +O vs +O/F tables (empty without FLIPNET)
    md = list(md) + ["## Protocols", ""]
    proto_html = []
    for name in used_metrics:
        spec = METRICS.get(name)
        if spec is None:
            continue
        unit = f"{spec.unit}; " if spec.unit else ""
        md.append(f"- **{name}** ({unit}{spec.direction}; range {list(spec.value_range)}): {spec.protocol}")
        proto_html.append(f"<li><b>{html.escape(name)}</b> ({html.escape(unit)}{spec.direction}): "
                          f"{html.escape(spec.protocol)}</li>")
    md += ["", "## Methods", ""]
    meth_html = []
    for method in params["methods"]:
        desc = m.description if (m := find_method_spec(method)) else "?"  # built-in or plugin
        src = _method_source(method, paths.MODELS)
        restore = _restore_line(method, params)
        md.append(f"- **{method}**: {desc}. Weights: {src}. Restore: {restore}.")
        meth_html.append(f"<li><b>{html.escape(method)}</b>: {html.escape(desc)}. Weights: {html.escape(src)}. "
                         f"Restore: {html.escape(restore)}.</li>")
    sub_md, sub_html = _submissions_section(params)
    md += sub_md
    page += ("<h2>Protocols</h2><ul>" + "".join(proto_html) + "</ul><h2>Methods</h2><ul>" + "".join(meth_html)
             + "</ul>" + sub_html)
    return md, page


def build_report(params: Mapping[str, Any], out_dir: Path = paths.REPORTS, progress: bool = True,
                 speed_dir: Path = paths.SPEED) -> dict[str, Path]:
    """Write reports/: leaderboard.md, .html, .tex, .csv, the grids and plots (and speed/speed.md, not in reports/).

    Every table comes from one DataFrame per test set (bfrbench.report.frame); `progress` shows a bar over the
    test sets."""
    from tqdm import tqdm

    from bfrbench.io.atomic import write_text_atomic
    from bfrbench.report.page import build_page
    from bfrbench.report.plots import training_curves
    from bfrbench.report.render import csv_text, latex_document
    from bfrbench.report.speed import write_speed_table

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = collect(params)
    title = (params.get("report") or {}).get("title") or f"bfrbench leaderboard: profile {params['profile']}"
    md = [f"# {title}", "",
          "Generated by `bfrbench report` from `scores/`. Bold = best in column. "
          "Arrows: ↑ higher is better, ↓ lower is better. Also as LaTeX (leaderboard.tex), CSV (leaderboard.csv) "
          "and an HTML page (leaderboard.html).", ""]
    frames: dict[str, pd.DataFrame] = {}
    sections = []
    used_metrics: list[str] = []
    for testset, table in tqdm(tables.items(), desc="report", unit="test set", disable=not progress):
        used_metrics += [n for n in table["metrics"] if n not in used_metrics]
        frames[testset], lines, section = _testset_section(testset, table, params, out_dir, speed_dir)
        md += lines
        sections.append(section)
    curves = [p for p in training_curves(paths.MODELS, out_dir) if p.suffix == ".png"]
    if curves:
        md += ["## Training curves", "", "From each stage's curve.json (the logged train/ losses; also `dvc plots "
               "show`).", ""] + [f"![{p.stem}]({p.relative_to(out_dir)})" for p in curves] + [""]
    appendix_md, appendix_html = _appendix(params, used_metrics)
    md += appendix_md
    md.append("")
    written = {"markdown": write_text_atomic(out_dir / "leaderboard.md", "\n".join(md)),
               "latex": write_text_atomic(out_dir / "leaderboard.tex", latex_document(frames, title)),
               "csv": write_text_atomic(out_dir / "leaderboard.csv", csv_text(frames))}
    curve_section = "".join(f'<p><img src="{html.escape(str(p.relative_to(out_dir)))}" alt="{html.escape(p.stem)}">'
                            "</p>" for p in curves)
    appendix_html = (("<h2>Training curves</h2>" + curve_section) if curves else "") + appendix_html
    downloads = [("LaTeX", "leaderboard.tex"), ("CSV", "leaderboard.csv"), ("Markdown", "leaderboard.md")]
    written["html"] = write_text_atomic(out_dir / "leaderboard.html",
                                        build_page(params["profile"], sections, appendix_html, downloads, title))
    written["speed"] = write_speed_table(params, speed_dir)
    return written
