"""The leaderboard's FLIPNET sections: degradation realism (naive vs FLIPNET LQ against a real LQ set) and the
downstream "+O vs +O/F" comparison (unet_l1 on naive data vs unet_l1_of on naive + FLIPNET data)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench import paths
from bfrbench.report.cells import column_title, format_number, has_value

REALISM = paths.SCORES / "realism" / "summary.json"
PLUS_O, PLUS_OF = "unet_l1", "unet_l1_of"
SET_LABELS = {"real": "real LQ (reference)", "naive": "naive pipeline", "flipnet": "FLIPNET degradation mode"}


def _fmt(entry: Any) -> str:
    if not isinstance(entry, dict):
        return "n/a"
    if "unavailable" in entry:
        return "unavailable"
    v = entry.get("value")
    if not isinstance(v, (int, float)):
        return "n/a"
    if isinstance(v, float) and math.isnan(v):
        return f"undefined (n_nan {entry.get('n_nan', '?')})"
    return format_number(v)


def _table(header: list[str], rows: list[list[str]]) -> tuple[list[str], str]:
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]
    h = ("<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr></thead><tbody>"
         + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
         + "</tbody></table>")
    return md, h


def degradation_training_data(models_root: Path = paths.MODELS) -> str:
    """What FLIPNET's Degradation mode was trained on, from its diffusion stage's card: real pairs (per set, how many
    were seen) or the naive pipeline's pairs."""
    card_path = Path(models_root) / "flipnet" / "diffusion" / "card.json"
    if not card_path.is_file():
        return f"FLIPNET's Degradation mode: {card_path} not found"
    card = json.loads(card_path.read_text())
    data = (card.get("config") or {}).get("data") or {}
    real = data.get("real_pairs")
    if not real:
        preset = (data.get("degradation") or {}).get("preset", "?") if isinstance(data.get("degradation"), dict) \
            else data.get("degradation")
        return (f"FLIPNET's Degradation mode was trained on the naive pipeline's pairs (preset `{preset}`), not on "
                "real degraded/clean pairs: it can at best imitate the naive pipeline")
    seen = card.get("final_metrics") or {}
    parts = []
    for spec in real:
        name = spec.get("name")
        count = int(seen.get(f"train/real_pairs_seen/{name}", 0))
        parts.append(f"{name} ({spec.get('kind')}, {count:,} pairs seen)")
    return f"FLIPNET's Degradation mode was trained on real degraded/clean pairs: {', '.join(parts)}"


def _set_label(name: str) -> str:
    from bfrbench.stages.realism import REAL_PREFIX

    if name.startswith(REAL_PREFIX):
        return f"real LQ: {name[len(REAL_PREFIX):]}"
    return SET_LABELS.get(name, name)


def _column(key: str) -> str:
    """`frechet_dlib@lfw_test` -> "frechet_dlib ↓ to lfw_test"."""
    metric, _, real = key.partition("@")
    return f"{column_title(metric)} to {real}" if real else column_title(metric)


def realism_section(summary_path: Path = REALISM) -> tuple[list[str], str]:
    title = "## FLIPNET degradation realism"
    if not summary_path.is_file():
        note = f"{summary_path} not found (run `bfrbench realism`)"
        return [title, "", note, ""], f"<h2>{html.escape(title[3:])}</h2><p>{html.escape(note)}</p>"
    s = json.loads(summary_path.read_text())
    metrics = s["metrics"]
    reals = s["real_lq"] if isinstance(s["real_lq"], dict) else {"real": s["real_lq"]}
    caption = ("LQ sets made from the same HQ faces, compared with the real LQ set(s) "
               + ", ".join(f"{n} (`{d}`)" for n, d in reals.items())
               + ". Distances (one column per real set) are to that real set: lower = closer to real degradations; "
               "the real sets' rows give the scale of a real-to-real distance. No-reference metrics are set means "
               "(closer to the real sets' values = more realistic). Sources: "
               + "; ".join(f"{k}: {m.get('source')} ({m.get('count')} faces)" for k, m in s.get("meta", {}).items()))
    rows = [[_set_label(name)] + [("—" if m not in row else _fmt(row.get(m))) for m in metrics]
            for name, row in s["sets"].items()]
    md, h = _table(["LQ set"] + [_column(m) for m in metrics], rows)
    notes = sorted({f"- {m}: {e['unavailable']}" for row in s["sets"].values() for m, e in row.items()
                    if isinstance(e, dict) and "unavailable" in e})
    trained_on = degradation_training_data()
    md = [title, "", caption, "", trained_on + ".", "", *md, *([""] + notes if notes else []), ""]
    return md, (f"<h2>{html.escape(title[3:])}</h2><p>{html.escape(caption)}</p><p>{html.escape(trained_on)}.</p>"
                f"{h}")


def plus_of_section(params: Mapping[str, Any], scores_root: Path = paths.SCORES) -> tuple[list[str], str]:
    from bfrbench.stages.testsets import read_meta

    title = "## Training data from FLIPNET: +O vs +O/F"
    caption = (f"The same U-Net, loss and schedule trained on online naive degradations (+O: `{PLUS_O}`) and on "
               f"naive + FLIPNET-degraded pairs (+O/F: `{PLUS_OF}`); the paper's downstream experiment.")
    md, body = [title, "", caption, ""], [f"<h2>{html.escape(title[3:])}</h2><p>{html.escape(caption)}</p>"]
    for testset in params["testsets"]:
        if not read_meta(paths.testset_dir(testset)).get("has_gt"):
            continue
        rows_in = {}
        for method in (PLUS_O, PLUS_OF):
            p = scores_root / method / testset / "summary.json"
            rows_in[method] = json.loads(p.read_text()).get("metrics", {}) if p.is_file() else None
        # Only metrics with a number for either row; the test set's own table says why the others are missing.
        names = [m for m in params.get("score", {}).get("metrics", [])
                 if any(r and has_value(r.get(m)) for r in rows_in.values())]
        rows = [[label] + (["missing"] * len(names) if rows_in[m] is None else [_fmt(rows_in[m].get(n)) for n in names])
                for label, m in (("+O (" + PLUS_O + ")", PLUS_O), ("+O/F (" + PLUS_OF + ")", PLUS_OF))]
        t_md, t_h = _table([f"{testset}"] + [column_title(n) for n in names], rows)
        md += [*t_md, ""]
        body.append(t_h)
    return md, "".join(body)


def flipnet_sections(params: Mapping[str, Any]) -> tuple[list[str], str]:
    """Markdown lines and HTML for the report; empty when the profile has no FLIPNET data stages."""
    if "flipnet" not in params:
        return [], ""
    md1, h1 = realism_section()
    md2, h2 = ([], "")
    if PLUS_O in params["methods"] and PLUS_OF in params["methods"]:
        md2, h2 = plus_of_section(params)
    return md1 + md2, h1 + h2
