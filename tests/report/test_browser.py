"""The leaderboard's HTML page in a real browser: headless Chromium driven by selenium opens a tiny page that
bfrbench.report.page.build_page wrote (a board table, a grid of 2 faces x 3 columns, worst faces, a plot) and uses
it as a reader would: sorting, the grid's fit and zoom, the comparison, the worst faces' metric.

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them) and selenium (the dev extra); skipped,
saying which is missing, without them. A screenshot of the page is saved as browser_leaderboard.png in
$BFRBENCH_TEST_ARTIFACTS, else tests/artifacts/.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bfrbench.io.images import write_image
from bfrbench.report.page import GridSpec, PageSection, build_page, copy_images, worst_faces, worst_with_images

APT = "apt-get install -y chromium chromium-driver"
WIDTH, FACE = 1280, 512  # the window's width; the faces' size (wider than a grid tile, so tiles shrink)


def _find(*names: str) -> str | None:
    for name in names:
        if Path(name).is_absolute():
            if os.access(name, os.X_OK):
                return name
        elif found := shutil.which(name):
            return found
    return None


@pytest.fixture(scope="module")
def driver():
    chromium = _find("/usr/bin/chromium", "chromium", "chromium-browser")
    chromedriver = _find("/usr/bin/chromedriver", "chromedriver")
    if chromium is None:
        pytest.skip(f"the chromium package is not installed (no chromium executable): {APT}")
    if chromedriver is None:
        pytest.skip(f"the chromium-driver package is not installed (no chromedriver executable): {APT}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("the selenium package is not installed: .venv/bin/pip install -e '.[dev]' (selenium==4.39.0)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},900",
                "--disable-dev-shm-usage", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")  # never let selenium-manager fetch a driver or a browser
        d = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
        try:
            yield d
        finally:
            d.quit()


def _color(i: int) -> np.ndarray:
    img = np.zeros((FACE, FACE, 3), np.uint8)
    img[...] = (40 * i + 30, 200 - 30 * i, (70 * i) % 256)
    img[FACE // 4: FACE // 2, FACE // 4: 3 * FACE // 4] = 255  # a white bar: not a flat tile
    return img


def _board_html() -> str:
    import pandas.io.formats.style  # noqa: F401  (Styler; render.html_table reaches it as pd.io.formats.style)

    from bfrbench.report.frame import leaderboard_frame
    from bfrbench.report.render import html_table

    table = {"metrics": ["psnr_rgb", "lpips_alex"], "rows": {
        "alpha": {"psnr_rgb": {"value": 20.0, "n": 2}, "lpips_alex": {"value": 0.40, "n": 2}},
        "beta": {"psnr_rgb": {"value": 25.0, "n": 2}, "lpips_alex": {"unavailable": "unavailable: no weights"}},
        "gamma": {"psnr_rgb": {"value": 22.0, "n": 2}, "lpips_alex": {"value": 0.20, "n": 2}}}}
    return html_table(leaderboard_frame("syn", table, {}, "tiny", [], {}))


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("page")
    reports, src = root / "reports", root / "src"
    labels = ["LQ", "beta", "GT"]
    stems = ["f0", "f1"]
    for ci, label in enumerate(labels):
        (src / label).mkdir(parents=True)
        for si, stem in enumerate(stems):
            write_image(src / label / f"{stem}.png", _color(3 * si + ci))
    columns = copy_images(reports, "syn", [(label, src / label) for label in labels], stems)
    per_image = {"beta": pd.DataFrame({"psnr_rgb": [26.0, 24.0], "lpips_alex": [0.5, 0.1]},
                                      index=pd.Index(stems, name="stem"))}
    worst = worst_faces(per_image, {"psnr_rgb": True, "lpips_alex": False}, k=1)
    assert worst == {"psnr_rgb": {"beta": [("f1", 24.0)]}, "lpips_alex": {"beta": [("f0", 0.5)]}}
    (reports / "plots").mkdir(parents=True)
    write_image(reports / "plots" / "syn_psnr.png", np.full((40, 64, 3), 200, np.uint8))
    (reports / "plots" / "syn_psnr.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    section = PageSection(testset="syn", caption="A tiny synthetic test set", table_html=_board_html(),
                          notes_html="<p>notes &amp; more</p>", grid=GridSpec(columns, stems),
                          worst=worst_with_images(worst, columns, context=("LQ", "GT")),
                          plots=["plots/syn_psnr.png"])
    # a second test set with more columns than fit at the faces' size, and a wide appendix table: still no
    # horizontal scroll of the page
    many = GridSpec([(f"method number {i} (submitted outputs)", columns[i % 3][1]) for i in range(12)], ["f0"])
    wide = PageSection(testset="wide", caption="Twelve columns", table_html="", notes_html="", grid=many)
    appendix = ("<h2>Protocols</h2><ul><li>psnr_rgb: BasicSR</li></ul><table><tr>"
                + "".join(f"<td>a_rather_long_unbreakable_cell_{i}</td>" for i in range(30)) + "</tr></table>")
    downloads = [("LaTeX", "leaderboard.tex"), ("CSV", "leaderboard.csv"), ("Markdown", "leaderboard.md")]
    text = build_page("smoke", [section, wide], appendix, downloads)
    for _, path in downloads:
        (reports / path).write_text("x\n")
    path = reports / "leaderboard.html"
    path.write_text(text, encoding="utf-8")
    return path


def _first_column(d) -> list[str]:
    return d.execute_script("return Array.from(document.querySelectorAll('table.board tbody tr'))"
                            ".map(r => r.cells[0].textContent.trim());")


def _header(d, text: str):
    from selenium.webdriver.common.by import By

    return d.find_element(By.XPATH, f"//table[contains(@class,'board')]//thead//th[contains(., '{text}')]")


def _wait_loaded(d, element) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(d, 10).until(lambda _: d.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0;", element))


def _severe(d) -> list[dict]:
    return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def _artifact_dir() -> Path:
    folder = Path(os.environ.get("BFRBENCH_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.slow
def test_page_in_chromium(driver, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = driver
    d.get(page.as_uri())
    WebDriverWait(d, 10).until(lambda _: d.execute_script("return document.readyState") == "complete")
    assert d.title == "bfrbench leaderboard"
    assert _severe(d) == [], "console errors on load"

    # sorting: psnr_rgb ↑ sorts best (highest) first, a second click reverses; the header shows the state
    assert _first_column(d) == ["alpha", "beta", "gamma"]
    psnr = _header(d, "psnr_rgb")
    psnr.click()
    assert _first_column(d) == ["beta", "gamma", "alpha"]
    assert psnr.get_attribute("aria-sort") == "descending"
    psnr.click()
    assert _first_column(d) == ["alpha", "gamma", "beta"]
    assert psnr.get_attribute("aria-sort") == "ascending"
    lpips = _header(d, "lpips_alex")
    lpips.click()  # ↓: lowest first; "unavailable" last both ways
    assert _first_column(d) == ["gamma", "alpha", "beta"] and psnr.get_attribute("aria-sort") is None
    lpips.click()
    assert _first_column(d) == ["alpha", "gamma", "beta"]
    name = _header(d, "method")
    name.click()
    name.click()
    assert _first_column(d) == ["gamma", "beta", "alpha"], "the first column sorts by name"

    # the grid fits the page: no horizontal scroll, the tiles are narrower than the faces
    assert d.execute_script("return document.documentElement.scrollWidth;") <= WIDTH
    tiles = d.find_elements(By.CSS_SELECTOR, "#s0-grid img.tile")
    assert len(tiles) == 6
    for grid in d.find_elements(By.CSS_SELECTOR, ".grid"):
        assert d.execute_script("return arguments[0].getBoundingClientRect().right;", grid) <= WIDTH
    assert len(d.find_elements(By.CSS_SELECTOR, "#s1-grid img.tile")) == 12
    tile = tiles[4]  # face f1, column beta
    d.execute_script("arguments[0].scrollIntoView();", tile)
    _wait_loaded(d, tile)
    assert tile.size["width"] < FACE

    # a click on a tile: the overlay shows that face at full resolution; Escape closes it, and so does a click
    zoom = d.find_element(By.ID, "zoom")
    zoom_img = d.find_element(By.CSS_SELECTOR, "#zoom .zoom-img")
    assert not zoom.is_displayed()
    tile.click()
    assert zoom.is_displayed()
    _wait_loaded(d, zoom_img)
    assert zoom_img.get_attribute("src") == tile.get_attribute("src")
    assert d.execute_script("return arguments[0].naturalWidth;", zoom_img) == FACE
    assert zoom_img.size["width"] == FACE, "shown at full resolution"
    assert "beta: f1" in zoom.text
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    assert not zoom.is_displayed()
    tiles[0].click()
    assert zoom.is_displayed()
    zoom.click()
    assert not zoom.is_displayed()

    # the comparison: two chosen columns of a chosen face, side by side at full resolution
    box = d.find_element(By.CSS_SELECTOR, "#s0 .compare")
    Select(box.find_element(By.CSS_SELECTOR, ".cmp-a")).select_by_visible_text("LQ")
    Select(box.find_element(By.CSS_SELECTOR, ".cmp-b")).select_by_visible_text("GT")
    Select(box.find_element(By.CSS_SELECTOR, ".cmp-face")).select_by_visible_text("f1")
    panes = box.find_elements(By.CSS_SELECTOR, ".cmp-pane img")
    assert [p.get_attribute("src").split("/")[-3:] for p in panes] == [["syn", "LQ", "f1.png"],
                                                                       ["syn", "GT", "f1.png"]]
    for p in panes:
        _wait_loaded(d, p)
        assert p.is_displayed() and p.size["width"] == FACE
    left, right = (p.location["x"] for p in panes)
    assert right >= left + FACE, "side by side"
    assert [c.text for c in box.find_elements(By.CSS_SELECTOR, ".cmp-pane figcaption")] == ["LQ", "GT"]
    assert d.execute_script("return document.documentElement.scrollWidth;") <= WIDTH

    # the worst faces: the metric select changes the faces shown; a click zooms
    worst = d.find_element(By.CSS_SELECTOR, "#s0 .worst")
    sets = worst.find_elements(By.CSS_SELECTOR, ".worst-set")
    assert [s.is_displayed() for s in sets] == [True, False]
    shown_before = sets[0].text
    assert "f1" in shown_before and "24.00" in shown_before
    Select(worst.find_element(By.CSS_SELECTOR, ".worst-metric")).select_by_visible_text("lpips_alex")
    assert [s.is_displayed() for s in sets] == [False, True]
    assert "f0" in sets[1].text and "0.5000" in sets[1].text and sets[1].text != shown_before
    thumbs = sets[1].find_elements(By.CSS_SELECTOR, "img.zoomable")
    assert len(thumbs) == 3  # LQ, beta, GT
    thumbs[1].click()
    assert zoom.is_displayed() and "beta: f0" in zoom.text
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)

    # plot with its SVG and the download links
    plot = d.find_element(By.CSS_SELECTOR, "#s0 figure.plot img")
    _wait_loaded(d, plot)
    assert d.find_element(By.LINK_TEXT, "SVG").get_attribute("href").endswith("plots/syn_psnr.svg")
    assert [a.text for a in d.find_elements(By.CSS_SELECTOR, "nav.downloads a")] == ["LaTeX", "CSV", "Markdown"]

    # the whole page, for a look
    d.execute_script("window.scrollTo(0, 0);")
    height = d.execute_script("return document.documentElement.scrollHeight;")
    d.set_window_size(WIDTH, min(max(height + 150, 900), 8000))
    shot = _artifact_dir() / "browser_leaderboard.png"
    assert d.save_screenshot(str(shot)) and shot.stat().st_size > 0
    assert _severe(d) == [], "console errors while in use"
