"""The DifFace grid broken down by degradation level: group means per factor level, per leaderboard row."""

import csv
import json

import numpy as np

from bfrbench.io.images import write_image
from bfrbench.report.breakdown import breakdown_section, breakdown_tables
from bfrbench.report.leaderboard import build_report

GRID = [("f0", 4, 1, 30, 4.0), ("f1", 4, 5, 40, 8.0), ("f2", 8, 1, 30, 8.0), ("f3", 8, 5, 40, 4.0)]


def _write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _grid(tmp_path):
    ts = tmp_path / "artifacts" / "testsets" / "grid"
    _write_csv(ts / "manifest.csv", ["name", "index", "scale", "noise", "jpeg_quality", "sigma_x"],
               [(n, i, s, no, q, b) for i, (n, s, no, q, b) in enumerate(GRID)])
    for sub in ("lq", "hq"):
        for name, *_ in GRID:
            write_image(ts / sub / f"{name}.png", np.full((8, 8, 3), 100, np.uint8))
    (ts / "meta.json").write_text(json.dumps({"kind": "difface_grid", "preset": "difface_grid", "count": 4,
                                              "size": 8, "has_gt": True, "seed": 10000}))
    psnr = {"a": [20.0, 22.0, 24.0, 26.0], "b": [10.0, 10.0, 30.0, 30.0]}
    for method, values in psnr.items():
        _write_csv(tmp_path / "scores" / method / "grid" / "per_image.csv", ["stem", "psnr_rgb"],
                   [(n, v) for (n, *_), v in zip(GRID, values)])
        (tmp_path / "scores" / method / "grid" / "summary.json").write_text(
            json.dumps({"metrics": {"psnr_rgb": {"value": float(np.mean(values)), "n": 4}}}))
    return ts


def test_level_means_per_factor(tmp_path):
    ts = _grid(tmp_path)
    tables = breakdown_tables(ts, {m: tmp_path / "scores" / m / "grid" for m in ("a", "b")})
    assert set(tables) == {"psnr_rgb"}, "lpips_alex was not scored: no table for it"
    scale = tables["psnr_rgb"]["scale"]
    assert list(scale.index) == [4, 8]
    assert scale.loc[4, "a"] == 21.0 and scale.loc[8, "a"] == 25.0 and scale.loc[8, "b"] == 30.0
    assert tables["psnr_rgb"]["noise"].loc[5, "b"] == 20.0  # f1 (10) and f3 (30)
    md, page = breakdown_section("grid", ts, {m: tmp_path / "scores" / m / "grid" for m in ("a", "b")})
    text = "\n".join(md)
    assert "| downscale factor \\ psnr_rgb ↑ | a | b |" in text and "| 8 | 25.00 | 30.00 |" in text
    assert "JPEG quality" in text and "<table>" in page


def test_the_report_adds_it_only_to_the_grid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _grid(tmp_path)
    params = {"profile": "paper", "size": 8, "methods": ["a", "b"], "testsets": {"grid": {}},
              "report": {"grid_images": 1}}
    md = build_report(params, tmp_path / "reports")["markdown"].read_text()
    assert "### grid by degradation level" in md
    (tmp_path / "artifacts/testsets/grid/meta.json").write_text(json.dumps({"kind": "synthetic", "count": 4,
                                                                           "size": 8, "has_gt": True}))
    assert "by degradation level" not in build_report(params, tmp_path / "reports")["markdown"].read_text()
