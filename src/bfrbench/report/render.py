"""Renderings of a leaderboard frame (bfrbench.report.frame): Markdown, an HTML table, CSV and LaTeX.

HTML and LaTeX go through pandas' Styler (best value bold, second underlined, through its CSS and LaTeX
conversions); Markdown is joined by hand because pandas' `to_markdown` needs the `tabulate` package, which the
suite does not otherwise depend on. All output is deterministic: a Styler gets a fixed uuid and no cell ids,
since DVC hashes reports/ and two clones must write the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd
from pandas.io.formats.style import Styler

from bfrbench.report.frame import NFE, cell_text, ranked, tidy


def header(df: pd.DataFrame, metric: str) -> str:
    arrow = df.attrs["metrics"][metric]["arrow"]
    return f"{metric} {arrow}" if arrow else metric


def _ranks(df: pd.DataFrame) -> dict[str, tuple[set[str], set[str]]]:
    return {m: ranked(df, m) for m in df.columns}


def markdown_table(df: pd.DataFrame) -> list[str]:
    """Rows of a Markdown table: best value bold (the Markdown page marks only the best, as papers' text does)."""
    ranks = _ranks(df)
    lines = ["| " + " | ".join(["method", *(header(df, m) for m in df.columns)]) + " |",
             "|" + "---|" * (len(df.columns) + 1)]
    for row in df.index:
        cells = [row]
        for m in df.columns:
            text = cell_text(df, row, m)
            if row in ranks[m][0]:  # the dagger stays outside the bold
                text = f"**{text[:-2]}** †" if text.endswith(" †") else f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)


def html_table(df: pd.DataFrame) -> str:
    """The table as HTML (pandas Styler): class `board`, one header row (`method`, then each metric with its
    arrow), best cells class `best` (bold), second `second` (underlined). No number attributes: the page's sorter
    parses the cell text and puts cells without a number last."""
    texts = pd.DataFrame({m: [cell_text(df, r, m) for r in df.index] for m in df.columns})
    texts.columns = [header(df, m) for m in df.columns]
    texts.insert(0, "method", list(df.index))  # a column, not the index: one header row, sortable by name
    classes = pd.DataFrame("", index=texts.index, columns=texts.columns)
    for m, title in zip(df.columns, texts.columns[1:]):
        best, second = ranked(df, m)
        for i, row in enumerate(df.index):
            classes.iat[i, texts.columns.get_loc(title)] = "best" if row in best else "second" if row in second else ""
    styler = Styler(texts, uuid=_slug(df.attrs["testset"]), cell_ids=False).hide(axis="index")
    styler = styler.set_td_classes(classes).set_table_attributes('class="board"')
    styler = styler.format_index(escape="html", axis=1).format(escape="html")
    return styler.to_html()


LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


# Characters pdflatex's default utf8 input cannot typeset, as LaTeX; Latin-1 letters (é, ü) it handles itself.
LATEX_UNICODE = {"↑": r"$\uparrow$", "↓": r"$\downarrow$", "†": r"$^\dagger$", "×": r"$\times$", "±": r"$\pm$",
                 "≈": r"$\approx$", "≤": r"$\leq$", "≥": r"$\geq$", "→": r"$\to$", "–": "--", "—": "---",
                 "σ": r"$\sigma$", "µ": r"$\mu$", "μ": r"$\mu$", "²": r"$^2$", "…": "...", "’": "'", "“": "``",
                 "”": "''"}


def latex_escape(text: str) -> str:
    """Text as LaTeX: specials escaped, the symbols above converted; any other character beyond Latin-1 becomes
    `?` (pdflatex would stop at it; no text the suite writes has one)."""
    out = []
    for c in text:
        if c in LATEX_ESCAPES:
            out.append(LATEX_ESCAPES[c])
        elif c in LATEX_UNICODE:
            out.append(LATEX_UNICODE[c])
        else:
            out.append(c if ord(c) < 256 else "?")
    return "".join(out)


def _latex_cell(text: str) -> str:
    if text.endswith(" †"):
        return latex_escape(text[:-2]) + r"$^\dagger$"
    return latex_escape(text)


WIDE_COLUMNS = 8


def latex_table(df: pd.DataFrame, label: str | None = None) -> str:
    """One `table` environment (booktabs rules, best bold, second underlined, arrows in the header, the
    protocols as numbered notes under it). Needs booktabs, and graphicx when it has more than WIDE_COLUMNS columns
    (scaled to the line width)."""
    metrics = list(df.columns)
    notes = []
    titles = []
    for m in metrics:
        meta = df.attrs["metrics"][m]
        arrow = {"↑": r"$\uparrow$", "↓": r"$\downarrow$"}.get(meta["arrow"], "")
        if meta["protocol"] and m != NFE:
            notes.append(f"{latex_escape(m)}: {latex_escape(meta['protocol'])}")
            mark = f"$^{{{len(notes)}}}$"
        else:
            mark = ""
        titles.append(f"{latex_escape(m)}{arrow}{mark}")
    texts = pd.DataFrame({t: [_latex_cell(cell_text(df, r, m)) for r in df.index] for t, m in zip(titles, metrics)},
                         index=[latex_escape(r) for r in df.index])
    styles = pd.DataFrame("", index=texts.index, columns=texts.columns)
    for m, t in zip(metrics, titles):
        best, second = ranked(df, m)
        for row in best:
            styles.at[latex_escape(row), t] = "textbf: --rwrap;"
        for row in second:
            styles.at[latex_escape(row), t] = "underline: --rwrap;"
    styler = Styler(texts, uuid="t", cell_ids=False).apply(lambda _: styles, axis=None)
    tabular = styler.to_latex(hrules=True, column_format="l" + "r" * len(metrics))
    caption = latex_escape(df.attrs["caption"])
    lines = [r"\begin{table}[t]", r"\centering", r"\small", f"\\caption{{{caption}}}"]
    if label:
        lines.append(f"\\label{{{label}}}")
    if len(metrics) > WIDE_COLUMNS:  # a profile scoring twenty metrics: scaled to the text width, not cut off
        lines.append(r"\resizebox{\linewidth}{!}{%")
        lines.append(tabular.rstrip() + "}")
    else:
        lines.append(tabular.rstrip())
    foot = [r"Bold: best; underlined: second best. $\uparrow$ higher is better, $\downarrow$ lower is better."]
    foot += [f"$^{{{i}}}$ {n}" for i, n in enumerate(notes, 1)]
    foot += [r"$^\dagger$ " + latex_escape(n.removeprefix("† ")) for n in df.attrs["few_notes"]]
    lines.append(r"\par\smallskip\parbox{\linewidth}{\footnotesize " + r" \\ ".join(foot) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def latex_document(frames: Mapping[str, pd.DataFrame], title: str) -> str:
    """A document that compiles as-is with pdflatex (article, booktabs); each table can be copied into a paper."""
    body = [latex_table(df, label=f"tab:{_slug(testset)}") for testset, df in frames.items()]
    return "\n".join([
        r"% Generated by `bfrbench report`; each table environment can be copied into a paper (booktabs, graphicx).",
        r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{booktabs}", r"\usepackage{graphicx}",
        r"\usepackage[margin=2cm,landscape]{geometry}", r"\begin{document}",
        f"\\section*{{{latex_escape(title)}}}", "", *body, r"\end{document}", ""])


def csv_text(frames: Mapping[str, pd.DataFrame]) -> str:
    """Every value in long form (testset, method, metric, value, higher_better, n, status), full precision."""
    return tidy(frames).to_csv(index=False, lineterminator="\n")
