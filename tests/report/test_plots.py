"""The report's figures: perception-distortion plane, DifFace grid level curves, training loss curves (+ CSVs)."""

import csv
import json
import math
import re
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
import yaml

from bfrbench import paths
from bfrbench.metrics.registry import METRICS
from bfrbench.report import plots
from bfrbench.report.breakdown import breakdown_frame, breakdown_tables

ROOT = Path(__file__).resolve().parents[2]
NAN = math.nan
DIRECTIONS = {name: spec.higher_better for name, spec in METRICS.items()}


def _svg_text(path: Path) -> str:
    """The SVG's text elements: glyphs are drawn as paths, each text's string is kept in a comment."""
    return "\n".join(re.findall(r"<!-- (.*?) -->", path.read_text(encoding="utf-8")))


def _values():
    return pd.DataFrame(
        {"psnr_rgb": [NAN, NAN, NAN], "psnr_y": [24.0, 22.0, 30.0], "lpips_alex": [0.3, 0.4, 0.2],
         "fid_gt": [40.0, 50.0, NAN], "niqe": [5.0, 6.0, 7.0]},
        index=["unet_l1", "codeformer", "mysub (submitted outputs)"])


def _published():
    return pd.DataFrame({"psnr_y": [23.4, 21.0], "fid_gt": [20.3, NAN]},
                        index=["Yue & Loy, DifFace: a long title (2024): DifFace", "Yue & Loy, DifFace: GFPGAN"])


def test_preference_lists_name_registry_metrics():
    for name in (*plots.DISTORTION_METRICS, *plots.PERCEPTUAL_METRICS):
        assert name in METRICS, name
    assert not set(plots.DISTORTION_METRICS) & set(plots.PERCEPTUAL_METRICS)


def test_perception_distortion_axes_points_and_published(tmp_path):
    written = plots.perception_distortion(_values(), DIRECTIONS, "celeba_test", tmp_path, _published())
    assert written == [tmp_path / "pd_celeba_test.png", tmp_path / "pd_celeba_test.svg"]
    assert all(p.stat().st_size > 1000 for p in written)
    text = _svg_text(written[1])
    # psnr_rgb has no number: the next distortion metric; fid_gt comes before niqe
    assert "psnr_y ↑ (distortion)" in text and "fid_gt ↓ (perception)" in text
    assert "psnr_rgb" not in text and "niqe" not in text and "lpips" not in text
    assert "unet_l1" in text and "codeformer" in text
    assert "mysub" not in text, "a row without fid_gt is no point"
    assert plots.PUBLISHED_LABEL in text and plots.SUITE_LABEL in text
    assert "Yue &amp; Loy: DifFace" in text, "the published point, its paper cut at the first comma"
    assert "GFPGAN" not in text, "a published row without a value on both axes is no point"


def test_no_published_points_no_published_legend(tmp_path):
    unplottable = pd.DataFrame({"psnr_y": [NAN], "fid_gt": [1.0]}, index=["Paper: X"])
    for published in (None, unplottable):
        (svg,) = [p for p in plots.perception_distortion(_values(), DIRECTIONS, "t", tmp_path, published)
                  if p.suffix == ".svg"]
        assert plots.PUBLISHED_LABEL not in _svg_text(svg)


def test_axis_without_known_direction_has_no_arrow(tmp_path):
    written = plots.perception_distortion(_values(), {"psnr_y": None}, "t", tmp_path)
    text = _svg_text(written[1])
    assert "psnr_y (distortion)" in text and "fid_gt (perception)" in text
    assert "↑" not in text and "↓" not in text


def test_pick_axes_needs_a_common_finite_point():
    assert plots.pick_axes(_values()) == ("psnr_y", "fid_gt")
    # psnr_y and fid_gt never finite in the same row: the next pair that is
    crossed = pd.DataFrame({"psnr_y": [20.0, NAN], "fid_gt": [NAN, 30.0], "niqe": [4.0, 5.0]}, index=["a", "b"])
    assert plots.pick_axes(crossed) == ("psnr_y", "niqe")
    assert plots.pick_axes(pd.DataFrame({"psnr_y": [math.inf], "fid_gt": [3.0]}, index=["a"])) is None


@pytest.mark.parametrize("values", [
    pd.DataFrame({"psnr_rgb": [20.0, 21.0]}, index=["a", "b"]),  # one metric
    pd.DataFrame({"psnr_rgb": [20.0, NAN], "fid_gt": [NAN, 30.0]}, index=["a", "b"]),  # no common point
    pd.DataFrame({"psnr_rgb": [NAN], "fid_gt": [NAN]}, index=["a"]),  # no number at all
    pd.DataFrame({"ids_dlib": [0.5], "frechet_dlib": [3.0]}, index=["a"]),  # no plane metric
    pd.DataFrame(index=["a"]),
])
def test_perception_distortion_writes_nothing_without_a_usable_pair(tmp_path, values):
    out = tmp_path / "reports"
    assert plots.perception_distortion(values, DIRECTIONS, "t", out, _published()) == []
    assert not out.exists()


def _grid(tmp_path):
    """A 4-face DifFace-grid test set and two rows' per-image PSNR (as tests/report/test_breakdown.py)."""
    grid = [("f0", 4, 1, 30, 4.0), ("f1", 4, 5, 40, 8.0), ("f2", 8, 1, 30, 8.0), ("f3", 8, 5, 40, 4.0)]
    ts = tmp_path / "grid"
    ts.mkdir(parents=True)
    pd.DataFrame(grid, columns=["name", "scale", "noise", "jpeg_quality", "sigma_x"]).to_csv(ts / "manifest.csv",
                                                                                             index=False)
    dirs = {}
    for method, psnr in {"a": [20.0, 22.0, 24.0, 26.0], "b": [10.0, 10.0, 30.0, 30.0]}.items():
        dirs[method] = tmp_path / "scores" / method
        dirs[method].mkdir(parents=True)
        pd.DataFrame({"stem": [g[0] for g in grid], "psnr_rgb": psnr}).to_csv(dirs[method] / "per_image.csv",
                                                                              index=False)
    return ts, dirs


def test_breakdown_frame_is_the_tables_in_long_form(tmp_path):
    ts, dirs = _grid(tmp_path)
    frame = breakdown_frame(ts, dirs)
    assert list(frame.columns) == ["factor", "level", "method", "metric", "value"]
    assert len(frame) == 4 * 2 * 2  # factors x levels x rows, one metric
    assert list(frame["factor"].drop_duplicates()) == ["scale", "noise", "jpeg_quality", "sigma_x"]
    tables = breakdown_tables(ts, dirs)
    for rec in frame.itertuples():
        assert rec.value == tables[rec.metric][rec.factor].loc[rec.level, rec.method]
    one = frame[(frame.factor == "scale") & (frame.level == 8) & (frame.method == "b")]
    assert one["value"].tolist() == [30.0]
    empty = breakdown_frame(tmp_path / "nowhere", dirs)
    assert empty.empty and list(empty.columns) == ["factor", "level", "method", "metric", "value"]


def test_level_curves(tmp_path):
    ts, dirs = _grid(tmp_path)
    frame = breakdown_frame(ts, dirs)
    extra = frame[frame.factor == "scale"].assign(metric="lpips_alex", value=0.25)
    written = plots.level_curves(pd.concat([frame, extra]), "grid", tmp_path / "out")
    assert written == [tmp_path / "out" / "levels_grid.png", tmp_path / "out" / "levels_grid.svg"]
    text = _svg_text(written[1])
    for label in ("downscale factor", "noise level", "JPEG quality", "blur sigma (x)", "psnr_rgb ↑", "lpips_alex ↓"):
        assert label in text, label
    assert re.search(r"^a$", text, re.M) and re.search(r"^b$", text, re.M), "one legend entry per row"
    assert plots.level_curves(frame.iloc[0:0], "grid", tmp_path / "none") == []
    assert plots.level_curves(frame.assign(value=NAN), "grid", tmp_path / "none") == []
    assert not (tmp_path / "none").exists()


def _curve(path: Path, points):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"every": 10, "points": points}))


def _models(tmp_path):
    root = tmp_path / "models"
    # stored out of step order, a loss missing at step 1, the headline loss among others
    _curve(root / "m1" / "vqgan" / "curve.json", [
        {"step": 10, "train/zeta": 0.5, "train/total": 1.5, "train/alpha": 0.25},
        {"step": 1, "train/total": 2.0, "train/alpha": 0.5}])
    _curve(root / "m1" / "cft" / "curve.json", [{"step": 1, "train/l1": 0.5}, {"step": 20, "train/l1": 0.125}])
    _curve(root / "m2" / "train" / "curve.json", [{"step": 1, "train/loss": 1.0, "train/d_hinge": -0.5},
                                                  {"step": 5, "train/loss": 0.5, "train/d_hinge": 0.25}])
    (root / "m2" / "link").mkdir()  # a stage folder without a curve
    return root


def test_training_curves_figures_and_csvs(tmp_path):
    out = tmp_path / "reports"
    written = plots.training_curves(_models(tmp_path), out)
    curves = out / "curves"
    assert sorted(p.name for p in written) == sorted(p.name for p in curves.iterdir()) == [
        "m1.png", "m1.svg", "m1_cft.csv", "m1_vqgan.csv", "m2.png", "m2.svg", "m2_train.csv"]
    with open(curves / "m1_vqgan.csv", newline="") as f:
        rows = list(csv.reader(f))
    # step first, the losses sorted with the headline loss (train/total) last: what dvc plots draws by default
    assert rows == [["step", "train/alpha", "train/zeta", "train/total"], ["1", "0.5", "", "2.0"],
                    ["10", "0.25", "0.5", "1.5"]]
    assert (curves / "m2_train.csv").read_text().splitlines()[0] == "step,train/d_hinge,train/loss"
    m1 = _svg_text(curves / "m1.svg")
    assert "vqgan" in m1 and "cft" in m1 and "zeta" in m1 and "total" in m1
    assert "10^{" in m1, "all values > 0: log y axis"
    m2 = _svg_text(curves / "m2.svg")
    assert "d_hinge" in m2 and "10^{" not in m2, "a negative value: linear y axis"
    assert plots.training_curves(tmp_path / "no_models", tmp_path / "empty") == []
    assert not (tmp_path / "empty").exists()


def test_curve_file_name_is_the_trainings():
    from bfrbench.training.curves import CURVE_FILE

    assert plots.CURVE_FILE == CURVE_FILE


def test_dvc_yaml_plots_read_the_curve_csvs():
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    defs = {k: v for entry in doc["plots"] for k, v in entry.items()}
    curves = (paths.REPORTS / plots.CURVES_DIR).as_posix()
    assert defs[curves]["x"] == "step" and "y" not in defs[curves]
    report_outs = [next(iter(o)) if isinstance(o, dict) else o for o in doc["stages"]["report"]["outs"]]
    assert paths.REPORTS.as_posix() in report_outs


def _draw_all(tmp_path, out):
    ts, dirs = _grid(tmp_path)
    return [*plots.perception_distortion(_values(), DIRECTIONS, "t", out, _published()),
            *plots.level_curves(breakdown_frame(ts, dirs), "grid", out),
            *plots.training_curves(_models(tmp_path), out)]


def test_reruns_write_identical_bytes_without_stamps(tmp_path):
    first = _draw_all(tmp_path / "one", tmp_path / "one" / "reports")
    with matplotlib.rc_context({"lines.linewidth": 5, "font.size": 20, "axes.grid": False}):  # a user's rc settings
        second = _draw_all(tmp_path / "two", tmp_path / "two" / "reports")
    assert [p.relative_to(tmp_path / "one") for p in first] == [p.relative_to(tmp_path / "two") for p in second]
    assert sum(p.suffix == ".svg" for p in first) == 4 and sum(p.suffix == ".png" for p in first) == 4
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
        data = a.read_bytes()
        assert not re.search(rb"(19|20)\d\d-\d\d-\d\d|\d\d:\d\d:\d\d", data), f"{a.name}: a date or time"
        assert str(tmp_path).encode() not in data and b"/tmp" not in data and b"/home" not in data, a.name
        assert matplotlib.__version__.encode() not in data, f"{a.name}: a version stamp"
        if a.suffix == ".png":
            assert b"tEXt" not in data and b"iTXt" not in data and b"Software" not in data, a.name
        if a.suffix == ".svg":
            assert b"<dc:date>" not in data and b"<dc:creator>" not in data, a.name


def test_dvc_yaml_plots_name_a_logged_loss_of_every_trained_stage():
    """Each trained stage's curve.json (a cached out: `dvc plots diff` across revisions and experiments) has a
    plots entry whose y is a loss that stage logs: checked against the committed smoke reference curves."""
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    params = yaml.safe_load((ROOT / "experiments/profiles/smoke.yaml").read_text(encoding="utf-8"))
    defs = {k: v for entry in doc["plots"] for k, v in entry.items()}
    trained = {(e["method"], e["stage"]): e["config"] for e in params["train"].values()}
    trained[("unet_l1_of", "train")] = params["flipnet"]["plus_of_config"]
    checked = 0
    for (method, stage), config in trained.items():
        reference = ROOT / config.replace(".yaml", ".curve.json")
        if not reference.is_file():  # no training curve (lq card, classic fit)
            continue
        logged = {k for point in json.loads(reference.read_text())["points"] for k in point}
        entry = defs.get(f"models/{method}/{stage}/curve.json")
        assert entry is not None, f"dvc.yaml plots: no entry for {method}/{stage}"
        assert entry["x"] == "step" and entry["y"] in logged, (method, stage, entry, sorted(logged))
        checked += 1
    assert checked == 13
