"""Build `reports/leaderboard.md` and `reports/leaderboard.html` from the score summaries.

One table per test set (method rows, metric columns with direction arrows), the protocol of every number as a
footnote, where each method's weights came from, and an image grid (LQ / each method / GT). No time stamp and no
timing: DVC hashes `reports/`, and two clones must write the same bytes (timings: bfrbench.report.speed)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench import paths
from bfrbench.report.cells import column_title, format_number, has_value
from bfrbench.report.speed import NFE_HEADER, NFE_NOTE, nfe_cell


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
        not_applicable = [n for n in metric_names if rows and all(_not_applicable(r.get(n)) for r in rows.values()
                                                                  if "_missing" not in r)]
        metric_names = [n for n in metric_names if n not in not_applicable]
        tables[testset] = {"meta": meta, "rows": rows, "metrics": metric_names, "not_applicable": not_applicable}
    return tables


def _not_applicable(entry: Any) -> bool:
    return isinstance(entry, dict) and str(entry.get("unavailable", "")).startswith("not applicable")


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


def _best(rows: Mapping[str, Mapping[str, Any]], metric: str, higher_better: bool) -> set[str]:
    vals = {m: r[metric]["value"] for m, r in rows.items()
            if isinstance(r.get(metric), dict) and isinstance(r[metric].get("value"), (int, float))
            and not math.isnan(r[metric]["value"])}
    if len(vals) < 2:
        return set()
    target = max(vals.values()) if higher_better else min(vals.values())
    return {m for m, v in vals.items() if v == target}


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


def build_report(params: Mapping[str, Any], out_dir: Path = paths.REPORTS, progress: bool = True,
                 speed_dir: Path = paths.SPEED) -> dict[str, Path]:
    from bfrbench.io.atomic import write_text_atomic
    from bfrbench.io.images import write_image
    from bfrbench.metrics.registry import METRICS
    from bfrbench.report.grid import make_grid

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = collect(params)
    md = [f"# bfrbench leaderboard: profile `{params['profile']}`", "",
          "Generated by `bfrbench report` from `scores/`. Bold = best in column. "
          "Arrows: ↑ higher is better, ↓ lower is better.", ""]
    body_html = []
    used_metrics: list[str] = []
    for testset, table in tables.items():
        meta, rows, all_metrics = table["meta"], table["rows"], table["metrics"]
        # A column with no number in it (weights missing for every method) is left out; "Not computed" says why.
        metric_names = [n for n in all_metrics if any(has_value(r.get(n)) for r in rows.values())]
        md += [f"## {testset}", "", _testset_caption(testset, meta), ""]
        header = ["method"]
        for name in all_metrics:
            if name not in used_metrics:
                used_metrics.append(name)
        header += [column_title(name) for name in metric_names] + [NFE_HEADER]
        md.append("| " + " | ".join(header) + " |")
        md.append("|" + "---|" * len(header))
        html_rows = []
        few: set[tuple[str, int, int, int]] = set()
        for method, row in rows.items():
            label = f"{method} (submitted outputs)" if method in (params.get("submissions") or {}) else method
            cells = [label]
            hcells = [html.escape(label)]
            for name in metric_names:
                entry = row.get(name)
                spec = METRICS.get(name)
                if "_missing" in row:
                    text = "missing"
                elif not isinstance(entry, dict):
                    text = "n/a"
                elif _not_applicable(entry):
                    text = "n/a"
                elif "unavailable" in entry:
                    text = "unavailable"
                else:
                    text = format_number(entry.get("value"))
                    if spec is not None and method in _best(rows, name, spec.higher_better):
                        text = f"**{text}**"
                    if entry.get("few_images"):  # a Fréchet distance on fewer images than feature dimensions
                        text += " †"
                        few.add((name, int(entry.get("n", 0)), int(entry.get("n_reference") or 0),
                                 int(entry.get("dims", 0))))
                cells.append(text)
                hcells.append(html.escape(text).replace("**", "") if "**" not in text
                              else f"<b>{html.escape(text.strip('*'))}</b>")
            nfe = nfe_cell(method, testset, speed_dir)
            cells.append(nfe)
            hcells.append(html.escape(nfe))
            md.append("| " + " | ".join(cells) + " |")
            html_rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in hcells) + "</tr>")
        notes = _reason_notes(rows, all_metrics)
        few_notes = [f"† {m}: computed on fewer images than its {d} feature dimensions (n {n}"
                  + (f", reference {r}" if r else "") + "): the covariance is rank-deficient, so the value is biased "
                  "and unstable; compare it only with rows of the same n" for m, n, r, d in sorted(few)]
        if table["not_applicable"]:
            notes.append(f"- not applicable (no ground truth): {', '.join(table['not_applicable'])}")
        if notes:
            md += ["", "Not computed:", *notes]
        md += [line for note in few_notes for line in ("", note)]
        md += ["", NFE_NOTE]
        from bfrbench.report.published import quoted_tables

        quoted_md, quoted_html = quoted_tables(testset, meta, params["methods"], rows)
        from bfrbench.report.seed_spread import seed_spread_section

        spread_md, spread_html = seed_spread_section(testset, params["methods"])
        md += spread_md + quoted_md
        quoted_html = spread_html + quoted_html
        from bfrbench.report.breakdown import applies, breakdown_section

        if applies(meta):  # the DifFace grid, per degradation level
            level_md, level_html = breakdown_section(
                testset, paths.testset_dir(testset), {m: paths.score_dir(m, testset) for m in rows},
                (params.get("report") or {}).get("breakdown_metrics"))
            md += level_md
            quoted_html += level_html
        grid_name = f"grid_{testset}.png"
        lq_dir = paths.testset_dir(testset) / "lq"
        from bfrbench.config import submissions_for

        columns = [("LQ", lq_dir)] + [(m, paths.result_dir(m, testset)) for m in params["methods"]] + \
            [(s, paths.submission_dir(s, testset)) for s in submissions_for(params, testset)]
        if meta.get("has_gt"):
            columns.append(("GT", paths.testset_dir(testset) / "hq"))
        n = int(params.get("report", {}).get("grid_images", 4))
        stems = sorted(p.stem for p in lq_dir.glob("*.png"))[:n] if lq_dir.is_dir() else []
        if stems:
            write_image(out_dir / grid_name, make_grid(columns, stems, int(params["size"])))
            caption = " | ".join(name for name, _ in columns)
            md += ["", f"![{testset}: {caption}]({grid_name})"]
        md.append("")
        body_html.append(
            f"<h2>{html.escape(testset)}</h2><p>{html.escape(_testset_caption(testset, meta))}</p>"
            "<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>"
            + "".join(html_rows) + "</tbody></table>"
            + ("<ul>" + "".join(f"<li>{html.escape(n_[2:])}</li>" for n_ in notes) + "</ul>" if notes else "")
            + "".join(f"<p>{html.escape(note)}</p>" for note in few_notes)
            + f"<p>{html.escape(NFE_NOTE)}</p>"
            + quoted_html
            + (f'<p><img src="{grid_name}" alt="grid {html.escape(testset)}"></p>' if stems else "")
        )
    from bfrbench.report.flipnet_tables import flipnet_sections

    flip_md, flip_html = flipnet_sections(params)  # realism and +O vs +O/F tables (empty without FLIPNET)
    md += flip_md
    body_html.append(flip_html)
    md += ["## Protocols", ""]
    proto_html = []
    for name in used_metrics:
        spec = METRICS.get(name)
        if spec is None:
            continue
        arrow = spec.direction
        unit = f"{spec.unit}; " if spec.unit else ""
        line = f"- **{name}** ({unit}{arrow}; range {list(spec.value_range)}): {spec.protocol}"
        md.append(line)
        proto_html.append(f"<li><b>{html.escape(name)}</b> ({html.escape(unit)}{arrow}): "
                          f"{html.escape(spec.protocol)}</li>")
    md += ["", "## Methods", ""]
    from bfrbench.methods.registry import find_method_spec

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
    md.append("")
    md_path = write_text_atomic(out_dir / "leaderboard.md", "\n".join(md))
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}td:first-child{text-align:left}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>bfrbench leaderboard</title>"
            f"<style>{style}</style></head><body>"
            f"<h1>bfrbench leaderboard: profile {html.escape(params['profile'])}</h1>"
            "<p>↑ higher is better, ↓ lower is better; bold = best.</p>" + "".join(body_html)
            + "<h2>Protocols</h2><ul>" + "".join(proto_html) + "</ul><h2>Methods</h2><ul>" + "".join(meth_html)
            + "</ul>" + sub_html + "</body></html>\n")
    html_path = write_text_atomic(out_dir / "leaderboard.html", page)
    from bfrbench.report.speed import write_speed_table

    return {"markdown": md_path, "html": html_path, "speed": write_speed_table(params, speed_dir)}
