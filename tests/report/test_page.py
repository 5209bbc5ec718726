"""The leaderboard's HTML page (bfrbench.report.page): the HTML build_page writes, the images copy_images puts beside
it and the worst faces worst_faces picks. The page in a browser: tests/report/test_browser.py."""

import math
import re

import numpy as np
import pandas as pd

from bfrbench.io.images import write_image
from bfrbench.report.page import GridSpec, PageSection, build_page, copy_images, worst_faces, worst_with_images

EVIL = '<script>alert("x")</script> & \'q\''


def _section(name="syn", **kw):
    grid = GridSpec(columns=[("LQ", {"f0": "images/syn/LQ/f0.png", "f1": "images/syn/LQ/f1.png"}),
                             ("good", {"f0": "images/syn/good/f0.png"})], stems=["f0", "f1"])
    worst = {"psnr_rgb": {"good": [("f1", 20.5, {"LQ": "images/syn/LQ/f1.png", "good": "images/syn/good/f1.png"})]},
             "lpips_alex": {"good": [("f0", 0.25, {"good": "images/syn/good/f0.png"})]}}
    base = dict(testset=name, caption="Synthetic test set", table_html='<table class="board"></table>',
                notes_html="<p>notes</p>", grid=grid, worst=worst, plots=["plots/syn_psnr.png"])
    base.update(kw)
    return PageSection(**base)


DOWNLOADS = [("LaTeX", "leaderboard.tex"), ("CSV", "leaderboard.csv"), ("Markdown", "leaderboard.md")]


def test_page_has_table_grid_compare_worst_plots_and_downloads():
    page = build_page("smoke", [_section()], "<h2>Protocols</h2>", DOWNLOADS)
    assert page.startswith("<!doctype html>") and page.endswith("</html>\n")
    assert '<div class="board-wrap"><table class="board"></table></div><p>notes</p>' in page
    for label, path in DOWNLOADS:
        assert f'<a href="{path}" download>{label}</a>' in page
    assert '<img class="zoomable plot-img" src="plots/syn_psnr.png"' in page
    assert '<a href="plots/syn_psnr.svg">SVG</a>' in page
    # the grid: a tile per face and column with the image, an empty tile where a column has no image of a face
    assert 'src="images/syn/LQ/f1.png"' in page and 'data-c="0" data-s="1"' in page
    assert page.count('class="gt empty"') == 1 and 'style="--cols:2"' in page
    # the comparison names the grid's columns and faces; the worst faces have a metric select
    compare = re.search(r'<div class="compare".*?</div></div>', page).group(0)
    assert '<option value="0" selected>LQ</option><option value="1">good</option>' in compare
    assert '<option value="1" selected>good</option>' in compare and ">f1</option>" in compare
    assert '<select class="worst-metric" aria-label="metric"><option value="0">psnr_rgb</option>' \
           '<option value="1">lpips_alex</option></select>' in page
    assert '<div class="worst-set" data-metric="psnr_rgb">' in page
    assert '<div class="worst-set" data-metric="lpips_alex" hidden>' in page, "one metric shown at a time"
    assert '<span class="val">20.50</span>' in page and '<span class="val">0.2500</span>' in page
    assert page.index("<h2>Protocols</h2>") > page.index('class="worst"'), "the appendix after the test sets"
    assert '<div id="zoom" class="zoom" hidden' in page


def test_page_is_self_contained_with_styles_and_script_inline():
    page = build_page("smoke", [_section(), _section("real")], "", DOWNLOADS)
    for external in ("http://", "https://", "//cdn", "<link rel=\"stylesheet\"", "<script src"):
        assert external not in page
    assert "table.board" in page and "th.sortable" in page, "the script and the styles are inlined"
    assert page.count("<script>") == 1 and page.count("<style>") == 1
    assert '<a href="#s0">syn</a>' in page and '<a href="#s1">real</a>' in page
    assert 'id="s1-grid"' in page and 'data-grid="s1-grid"' in page, "each section's comparison reads its grid"


def test_page_is_deterministic():
    a = build_page("smoke", [_section()], "<p>appendix</p>", DOWNLOADS)
    b = build_page("smoke", [_section()], "<p>appendix</p>", DOWNLOADS)
    assert a == b
    assert not re.search(r"20\d\d-\d\d-\d\d", a), "no date"
    assert "/tmp" not in a and "/work" not in a, "no absolute path"


def test_page_escapes_all_text():
    grid = GridSpec(columns=[(EVIL, {EVIL: 'a"b<c>.png'}), ("x", {EVIL: "x.png"})], stems=[EVIL])
    worst = {EVIL: {EVIL: [(EVIL, 1.0, {EVIL: 'a"b<c>.png'})]}}
    section = PageSection(testset=EVIL, caption=EVIL, table_html="", notes_html="", grid=grid, worst=worst,
                          plots=['p"<>.png'])
    page = build_page(EVIL, [section], "", [(EVIL, 'd"<>.csv')])
    body = page.split("<body>", 1)[1].rsplit("<script>", 1)[0]
    assert "<script" not in body and 'alert("x")' not in body and "'q'" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;" in body
    assert 'src="a&quot;b&lt;c&gt;.png"' in body and 'href="d&quot;&lt;&gt;.csv"' in body
    assert 'href="p&quot;&lt;&gt;.svg"' in body


def test_page_without_grid_worst_or_plots():
    section = PageSection(testset="real", caption="c", table_html='<table class="board"></table>', notes_html="")
    page = build_page("smoke", [section], "", [])
    assert 'class="grid"' not in page and 'class="compare"' not in page and 'class="worst"' not in page
    assert "<h3>Plots</h3>" not in page and 'class="downloads"' not in page
    one_column = GridSpec(columns=[("LQ", {"a": "a.png"})], stems=["a"])
    page = build_page("smoke", [PageSection("real", "c", "", "", grid=one_column)], "", [])
    assert 'class="grid"' in page and 'class="compare"' not in page, "nothing to compare with one column"


def test_page_with_a_real_board_table():
    import pandas.io.formats.style  # noqa: F401  (Styler; render.html_table reaches it as pd.io.formats.style)

    from bfrbench.report.frame import leaderboard_frame
    from bfrbench.report.render import html_table

    table = {"metrics": ["psnr_rgb"], "rows": {"a": {"psnr_rgb": {"value": 20.0, "n": 3}},
                                               "b": {"psnr_rgb": {"value": 25.0, "n": 3}}}}
    df = leaderboard_frame("syn", table, {}, "caption", [], {})
    page = build_page("smoke", [PageSection("syn", "caption", html_table(df), "")], "", [])
    assert 'class="board"' in page and "psnr_rgb ↑" in page and "<td" in page


def _png(path, value, size=8):
    write_image(path, np.full((size, size, 3), value, np.uint8))


def test_copy_images_copies_byte_identical_files_and_returns_relative_paths(tmp_path):
    lq, good, sub = tmp_path / "lq", tmp_path / "good", tmp_path / "sub"
    for folder in (lq, good, sub):
        folder.mkdir()
    _png(lq / "001.png", 10)
    _png(lq / "002.png", 20)
    _png(good / "001.png", 30)  # good has no 002: skipped
    (sub / "001.jpg").write_bytes(b"not decoded, only copied")  # a JPEG keeps its suffix
    out = tmp_path / "reports"
    got = copy_images(out, "syn set", [("LQ", lq), ("good", good), ("A (submitted outputs)", sub)],
                      ["001", "002", "001", "../x", ""])
    assert got == [("LQ", {"001": "images/syn_set/LQ/001.png", "002": "images/syn_set/LQ/002.png"}),
                   ("good", {"001": "images/syn_set/good/001.png"}),
                   ("A (submitted outputs)", {"001": "images/syn_set/A_submitted_outputs/001.jpg"})]
    for label, files in got:
        for stem, rel in files.items():
            src = {"LQ": lq, "good": good}.get(label, sub)
            source = next(src.glob(stem + ".*"))
            assert (out / rel).read_bytes() == source.read_bytes()
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["001.jpg", "001.png", "001.png", "002.png"], \
        "no temporary file left behind"
    again = copy_images(out, "syn set", [("LQ", lq), ("good", good), ("A (submitted outputs)", sub)], ["001", "002"])
    assert again == got, "a second run writes the same paths"


def test_copy_images_gives_labels_with_the_same_slug_their_own_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    _png(a / "f.png", 1)
    _png(b / "f.png", 2)
    got = copy_images(tmp_path / "r", "t", [("m 1", a), ("m/1", b)], ["f"])
    assert got == [("m 1", {"f": "images/t/m_1/f.png"}), ("m/1", {"f": "images/t/m_1-2/f.png"})]
    assert (tmp_path / "r/images/t/m_1/f.png").read_bytes() != (tmp_path / "r/images/t/m_1-2/f.png").read_bytes()


def _per_image(tmp_path, name, text):
    path = tmp_path / f"{name}.csv"
    path.write_text(text)
    return pd.read_csv(path, dtype={"stem": str}).set_index("stem")


def test_worst_faces_by_direction_ties_by_stem_nan_ignored(tmp_path):
    per_image = {
        "good": _per_image(tmp_path, "good", "stem,psnr_rgb,lpips_alex\n003,30,0.1\n001,20,0.3\n002,20,\n004,,0.3\n"),
        "lq": _per_image(tmp_path, "lq", "stem,psnr_rgb\n001,18\n002,17\n"),
    }
    got = worst_faces(per_image, {"psnr_rgb": True, "lpips_alex": False, "niqe": False}, k=2)
    assert got == {"psnr_rgb": {"good": [("001", 20.0), ("002", 20.0)], "lq": [("002", 17.0), ("001", 18.0)]},
                   "lpips_alex": {"good": [("001", 0.3), ("004", 0.3)]}}
    assert list(got) == ["psnr_rgb", "lpips_alex"] and list(got["psnr_rgb"]) == ["good", "lq"]
    assert worst_faces(per_image, {"psnr_rgb": True}, k=1) == {"psnr_rgb": {"good": [("001", 20.0)],
                                                                            "lq": [("002", 17.0)]}}
    all_nan = {"x": pd.DataFrame({"m": [math.nan]}, index=pd.Index(["a"], name="stem"))}
    assert worst_faces(all_nan, {"m": True}) == {}


def test_worst_with_images_shows_the_row_and_the_context_columns():
    columns = [("LQ", {"a": "i/LQ/a.png", "b": "i/LQ/b.png"}), ("good", {"a": "i/good/a.png"}),
               ("other", {"a": "i/other/a.png"}), ("GT", {"a": "i/GT/a.png"})]
    worst = {"psnr_rgb": {"good": [("a", 20.0), ("b", 21.0)]}}
    got = worst_with_images(worst, columns, context=("LQ", "GT"))
    assert got == {"psnr_rgb": {"good": [("a", 20.0, {"LQ": "i/LQ/a.png", "good": "i/good/a.png",
                                                      "GT": "i/GT/a.png"}),
                                         ("b", 21.0, {"LQ": "i/LQ/b.png"})]}}
    assert list(got["psnr_rgb"]["good"][0][2]) == ["LQ", "good", "GT"], "in the grid's column order"
