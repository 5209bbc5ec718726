"""The leaderboard frame and its renderings: Markdown, HTML, CSV and LaTeX read one DataFrame and agree; the LaTeX
compiles with pdflatex (Debian texlive-latex-base + texlive-latex-recommended; .ci/run installs them)."""

from __future__ import annotations

import io
import math
import shutil
import subprocess

import pandas as pd
import pytest

from bfrbench.report.frame import NFE, leaderboard_frame, ranked, tidy
from bfrbench.report.render import csv_text, html_table, latex_document, latex_escape, latex_table, markdown_table

PARAMS = {"profile": "smoke", "submissions": {"their_net": {"outputs": {"syn": "x"}}}}


def _table():
    rows = {
        "lq": {"psnr_rgb": {"value": 20.0, "n": 3}, "lpips_alex": {"value": 0.5, "n": 3},
               "niqe": {"unavailable": "unavailable: weights missing"}},
        "codeformer_w1": {"psnr_rgb": {"value": 25.0, "n": 3}, "lpips_alex": {"value": 0.3, "n": 3},
                          "niqe": {"value": 4.1, "n": 3},
                          "fid_gt": {"value": 80.0, "n": 3, "dims": 2048, "few_images": True}},
        "difface": {"psnr_rgb": {"value": 23.0, "n": 3}, "lpips_alex": {"value": 0.2, "n": 3},
                    "niqe": {"value": 4.0, "n": 3}, "fid_gt": {"value": 70.0, "n": 3, "dims": 2048,
                                                              "few_images": True}},
        "their_net": {"psnr_rgb": {"value": 24.0, "n": 3}, "lpips_alex": {"value": 0.3, "n": 3},
                      "niqe": {"value": float("nan"), "n": 3}},
        "ghost": {"_missing": "scores/ghost/syn/summary.json not found"},
    }
    return {"rows": rows, "metrics": ["psnr_rgb", "lpips_alex", "niqe", "fid_gt"]}


def _frame():
    return leaderboard_frame("syn", _table(), PARAMS, "syn: synthetic; 3 faces at 16 px", ["- a note"],
                             {"lq": 0.0, "codeformer_w1": 1.0, "difface": 25.0, "ghost": None})


def test_frame_holds_values_directions_and_cell_status():
    df = _frame()
    assert list(df.index) == ["lq", "codeformer_w1", "difface", "their_net (submitted outputs)", "ghost"]
    assert list(df.columns) == ["psnr_rgb", "lpips_alex", "niqe", "fid_gt", NFE]
    assert df.at["codeformer_w1", "psnr_rgb"] == 25.0 and math.isnan(df.at["ghost", "psnr_rgb"])
    assert df.attrs["status"]["lq"]["niqe"] == "unavailable" and df.attrs["status"]["ghost"]["psnr_rgb"] == "missing"
    meta = df.attrs["metrics"]
    assert meta["lpips_alex"]["higher_better"] is False and meta["psnr_rgb"]["arrow"] == "↑"
    assert df.attrs["few"] == {"codeformer_w1": ["fid_gt"], "difface": ["fid_gt"]}
    # best / second by direction; ties share a rank; NaN (an undefined value) ranks nothing; NFE is never ranked
    assert ranked(df, "psnr_rgb") == ({"codeformer_w1"}, {"their_net (submitted outputs)"})
    assert ranked(df, "lpips_alex") == ({"difface"}, {"codeformer_w1", "their_net (submitted outputs)"})
    assert ranked(df, "niqe") == ({"difface"}, set()), "two numbers: a best, no second"
    assert ranked(df, NFE) == (set(), set())


def test_markdown_html_csv_agree_with_the_frame():
    df = _frame()
    md = "\n".join(markdown_table(df))
    assert "| method | psnr_rgb ↑ | lpips_alex ↓ | niqe ↓ | fid_gt ↓ | NFE |" in md
    assert "| difface | 23.00 | **0.2000** | **4.0000** | **70.00** † | 25 |" in md
    assert "| lq | 20.00 | 0.5000 | unavailable | n/a | 0 |" in md
    assert "| their_net (submitted outputs) | 24.00 | 0.3000 | nan | n/a | n/a |" in md
    assert "| ghost | missing | missing | missing | missing | n/a |" in md
    page = html_table(df)
    assert 'class="board"' in page and page.count(' best"') == 4 and "their_net (submitted outputs)" in page
    assert page == html_table(_frame()), "no random ids: DVC hashes the page"
    long = pd.read_csv(io.StringIO(csv_text({"syn": df})))
    row = long[(long.method == "difface") & (long.metric == "fid_gt")].iloc[0]
    assert row.value == 70.0 and row.status == "few_images" and not row.higher_better and row.n == 3
    assert long[(long.method == "lq") & (long.metric == "niqe")].iloc[0].status == "unavailable"
    assert len(long) == len(tidy({"syn": df})) == 5 * 5


def test_latex_table_marks_best_second_arrows_and_protocols():
    tex = latex_table(_frame(), label="tab:syn")
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"\textbf{0.2000}" in tex and r"\underline{24.00}" in tex and r"\underline{0.3000}" in tex
    assert r"psnr\_rgb$\uparrow$$^{1}$" in tex and r"lpips\_alex$\downarrow$$^{2}$" in tex
    assert r"codeformer\_w1" in tex and r"their\_net (submitted outputs)" in tex
    assert r"\textbf{70.00$^\dagger$}" in tex and r"$^\dagger$ fid\_gt: computed on fewer images" in tex
    assert r"\label{tab:syn}" in tex and "syn: synthetic; 3 faces at 16 px" in tex
    assert latex_escape("a_b & 50% ~ #1 {x} ↑ σ→") == (r"a\_b \& 50\% \textasciitilde{} \#1 \{x\} $\uparrow$ "
                                                       r"$\sigma$$\to$")


def test_latex_document_compiles_with_pdflatex(tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed: apt-get install -y texlive-latex-base texlive-latex-recommended "
                    "(.ci/run installs them)")
    tex = tmp_path / "leaderboard.tex"
    wide = _table()  # 12 metric columns: scaled to the line width
    names = ["psnr_rgb", "psnr_y", "ssim_rgb", "ssim_y", "lpips_alex", "lpips_vgg", "niqe", "piqe", "musiq", "maniqa",
             "fid_gt", "ids_dlib"]
    wide = {"metrics": names, "rows": {r: {n: {"value": 12.345 + i, "n": 3} for i, n in enumerate(names)}
                                       for r in ("lq", "codeformer_w1", "difface")}}
    wide_df = leaderboard_frame("wide", wide, PARAMS, "wide", [], {})
    assert r"\resizebox{\linewidth}{!}" in latex_table(wide_df) and r"\resizebox" not in latex_table(_frame())
    tex.write_text(latex_document({"syn": _frame(), "real_set": _frame(), "wide": wide_df}, "smoke_1"))
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Output written on leaderboard.pdf" in done.stdout and (tmp_path / "leaderboard.pdf").stat().st_size > 1000
    assert "Overfull \\hbox" not in done.stdout, "a table wider than the page"
