"""The report's figures (matplotlib, each as PNG and SVG under reports/): the perception-distortion plane of a test
set, the DifFace grid's metric-vs-degradation-level curves, and the training loss curves of every trained stage (with
the CSV files `dvc plots` draws them from).

Pure functions: data in, files out, the written paths returned. Reproducible to the byte, because DVC hashes
reports/ and a rerun must not change it (docs/reproducibility.md):

- matplotlib is imported inside the functions (importing this module imports neither it nor pandas) and only its
  object API is used (`Figure`, no pyplot): nothing switches the process's backend or keeps a figure alive, and the
  files are rendered by Agg (PNG) and the SVG backend whatever backend the caller runs;
- every figure is drawn under matplotlib's default rcParams (a user's matplotlibrc does not leak in) with a fixed
  font (DejaVu Sans, shipped with matplotlib), fixed size and dpi, and a fixed `svg.hashsalt` (the SVG's element ids);
- no time stamp and no version string is embedded (SVG `Date` and `Creator`, PNG `Software` are left out), nor any
  path; inputs are sorted (rows by label, series by name, stages by name).

The bytes are the same for the same matplotlib, Pillow and zlib builds (the pinned environment); another matplotlib
release may draw another pixel.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# Candidates for the perception-distortion plane, in order of preference (names of the metric registry).
# Distortion: full-reference fidelity to the ground truth (the x axis of Blau & Michaeli's plane).
DISTORTION_METRICS = ("psnr_rgb", "psnr_y", "ssim_rgb", "ssim_y", "ms_ssim", "lpips_alex", "lpips_vgg")
# Perception: distance of the restored set's distribution to real faces, then no-reference quality.
PERCEPTUAL_METRICS = ("fid_ffhq512", "fid_gt", "fid_clean", "fid_folder", "kid_gt", "kid_folder",
                      "niqe", "piqe", "musiq", "maniqa", "clipiqa", "topiq_nr-face")
PUBLISHED_LABEL = "published (quoted)"
SUITE_LABEL = "this suite (measured)"
CURVE_FILE = "curve.json"  # bfrbench.training.curves.CURVE_FILE (not imported: that module imports lightning)
CURVES_DIR = "curves"
# The loss a stage optimises, when it logs one of these (first match): its CSV column comes last, because `dvc plots`
# draws a CSV's last column when dvc.yaml names no y (and it cannot name one for a folder of CSVs whose columns
# differ from stage to stage).
HEADLINE_LOSSES = ("train/total", "train/loss", "train/loss_g")

_DPI = 100
_RC = {
    "svg.hashsalt": "bfrbench-report",
    "svg.fonttype": "path",  # glyphs as paths: the SVG looks the same without the font installed
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": _DPI,
    "savefig.dpi": _DPI,
}
_SUITE_COLOR = "tab:blue"
_PUBLISHED_COLOR = "tab:orange"
_SVG_METADATA = {"Date": None, "Creator": None}
_PNG_METADATA = {"Software": None}


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _save(fig: Figure, stem: Path) -> list[Path]:
    """`stem`.png and `stem`.svg, each written atomically (a crash leaves no half file in reports/)."""
    from bfrbench.io.atomic import write_bytes_atomic

    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt, metadata in (("png", _PNG_METADATA), ("svg", _SVG_METADATA)):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=_DPI, metadata=metadata)
        written.append(write_bytes_atomic(stem.with_name(f"{stem.name}.{fmt}"), buf.getvalue()))
    return written


class _Style:
    """matplotlib's defaults plus _RC for the duration of one figure, whatever the caller's rcParams are."""

    def __enter__(self) -> None:
        import matplotlib

        self._context = matplotlib.rc_context()
        self._context.__enter__()
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_RC)

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)


def _arrow(metric: str, higher_better: Mapping[str, bool | None]) -> str:
    """The metric with its direction arrow; the bare name when the direction is not known."""
    direction = higher_better.get(metric)
    if direction is None:
        return metric
    return f"{metric} {'↑' if direction else '↓'}"


def _short_label(label: str) -> str:
    """A published row's point label: "PAPER: METHOD" with the paper cut at its first comma (the authors)."""
    paper, sep, method = str(label).rpartition(": ")
    return f"{paper.split(',')[0].strip()}: {method}" if sep else str(label)


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    out = frame.apply(pd.to_numeric, errors="coerce").astype(float)
    out.index = [str(i) for i in out.index]
    return out.sort_index()


def _finite(series: pd.Series) -> pd.Series:
    import numpy as np

    return series.notna() & np.isfinite(series.to_numpy(dtype=float, na_value=np.nan))


def pick_axes(values: pd.DataFrame) -> tuple[str, str] | None:
    """(distortion metric, perceptual metric) for the plane: the first pair in preference order (distortion first)
    both present with a finite value in at least one common row; None when no such pair exists."""
    frame = _numeric(values)
    for x in (m for m in DISTORTION_METRICS if m in frame.columns):
        for y in (m for m in PERCEPTUAL_METRICS if m in frame.columns):
            if (_finite(frame[x]) & _finite(frame[y])).any():
                return x, y
    return None


def perception_distortion(values: pd.DataFrame, higher_better: Mapping[str, bool | None], testset: str, out_dir: Path,
                          published: pd.DataFrame | None = None) -> list[Path]:
    """The perception-distortion plane of one test set: `out_dir/pd_<testset>.png` and `.svg`.

    `values`: one row per leaderboard row (index = its label), one float column per metric, NaN where there is no
    number (`bfrbench.report.frame.values_only` of the test set's frame). Axes: the first distortion metric of
    DISTORTION_METRICS (x) and the first perceptual metric of PERCEPTUAL_METRICS (y) that share a finite point
    (`pick_axes`), each labelled with its direction arrow from `higher_better` (no arrow for a metric it does not
    know, or maps to None). One labelled point per row with both values finite. `published` (same kind of columns,
    index = "PAPER: METHOD", `bfrbench.report.published.published_points`; None for none) adds the quoted numbers
    on those axes in another marker and colour, legend PUBLISHED_LABEL, each labelled with the paper cut at its
    first comma; it never decides the axes. Writes nothing and returns [] when no pair of metrics has a finite
    point."""
    axes = pick_axes(values)
    if axes is None:
        return []
    x_metric, y_metric = axes
    frame = _numeric(values)
    ours = frame[_finite(frame[x_metric]) & _finite(frame[y_metric])][[x_metric, y_metric]]
    quoted = None
    if published is not None and not published.empty:
        pub = _numeric(published).reindex(columns=[x_metric, y_metric])
        quoted = pub[_finite(pub[x_metric]) & _finite(pub[y_metric])]
    with _Style():
        fig = _new_figure(6.4, 4.8)
        ax = fig.add_subplot()
        ax.scatter(ours[x_metric], ours[y_metric], color=_SUITE_COLOR, marker="o", zorder=3, label=SUITE_LABEL)
        for label, row in ours.iterrows():
            ax.annotate(label, (row[x_metric], row[y_metric]), xytext=(4, 4), textcoords="offset points",
                        fontsize=8, color=_SUITE_COLOR)
        if quoted is not None and not quoted.empty:
            ax.scatter(quoted[x_metric], quoted[y_metric], color=_PUBLISHED_COLOR, marker="s", zorder=2,
                       label=PUBLISHED_LABEL)
            for label, row in quoted.iterrows():
                ax.annotate(_short_label(label), (row[x_metric], row[y_metric]), xytext=(4, -10),
                            textcoords="offset points",
                            fontsize=7, color=_PUBLISHED_COLOR)
        ax.set_xlabel(f"{_arrow(x_metric, higher_better)} (distortion)")
        ax.set_ylabel(f"{_arrow(y_metric, higher_better)} (perception)")
        ax.set_title(f"{testset}: perception-distortion")
        ax.legend(loc="best", fontsize=8)
        return _save(fig, Path(out_dir) / f"pd_{testset}")


def level_curves(levels: pd.DataFrame, testset: str, out_dir: Path) -> list[Path]:
    """The DifFace grid by degradation level: `out_dir/levels_<testset>.png` and `.svg`, small multiples with one
    row per metric and one column per degradation factor, the metric's mean per level against the level, one line
    per leaderboard row. `levels`: the tidy frame of `bfrbench.report.breakdown.breakdown_frame` (columns factor,
    level, method, metric, value). Writes nothing and returns [] when it holds no finite value."""
    import pandas as pd

    from bfrbench.report.breakdown import FACTORS
    from bfrbench.report.cells import column_title

    if levels is None or levels.empty:
        return []
    data = levels.assign(value=pd.to_numeric(levels["value"], errors="coerce"),
                         level=pd.to_numeric(levels["level"], errors="coerce"))
    data = data[_finite(data["value"]) & _finite(data["level"])]
    if data.empty:
        return []
    factor_order = {f: i for i, f in enumerate(FACTORS)}
    factors = sorted(data["factor"].astype(str).unique(), key=lambda f: (factor_order.get(f, len(factor_order)), f))
    metrics = sorted(data["metric"].astype(str).unique())
    methods = sorted(data["method"].astype(str).unique())
    with _Style():
        import matplotlib
        from matplotlib.lines import Line2D

        colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
        fig = _new_figure(3.0 * len(factors) + 1.6, 2.6 * len(metrics) + 0.4)
        grid = fig.subplots(len(metrics), len(factors), squeeze=False)
        for i, metric in enumerate(metrics):
            for j, factor in enumerate(factors):
                ax = grid[i][j]
                cell = data[(data["metric"].astype(str) == metric) & (data["factor"].astype(str) == factor)]
                for k, method in enumerate(methods):
                    line = cell[cell["method"].astype(str) == method].sort_values("level")
                    if not line.empty:
                        ax.plot(line["level"], line["value"], marker="o", markersize=3,
                                color=colors[k % len(colors)], label=method)
                if i == len(metrics) - 1:
                    ax.set_xlabel(FACTORS.get(factor, factor))
                if j == 0:
                    ax.set_ylabel(column_title(metric))
        handles = [Line2D([], [], color=colors[k % len(colors)], marker="o", markersize=3, label=method)
                   for k, method in enumerate(methods)]
        fig.legend(handles=handles, loc="outside right upper", fontsize=8)
        fig.suptitle(f"{testset}: mean per degradation level")
        return _save(fig, Path(out_dir) / f"levels_{testset}")


def read_curves(models_root: Path) -> dict[str, dict[str, pd.DataFrame]]:
    """{method: {stage: DataFrame (step + the train/* columns, rows sorted by step)}} from every
    `models_root/<method>/<stage>/curve.json`; a point without some loss leaves NaN there. Columns: step, the
    train/* names sorted, except the stage's headline loss (HEADLINE_LOSSES), which comes last."""
    import pandas as pd

    out: dict[str, dict[str, pd.DataFrame]] = {}
    for path in sorted(Path(models_root).glob(f"*/*/{CURVE_FILE}")):
        method, stage = path.parent.parent.name, path.parent.name
        points = json.loads(path.read_text(encoding="utf-8")).get("points") or []
        frame = pd.DataFrame.from_records(points)
        if frame.empty or "step" not in frame.columns:
            continue
        series = sorted(c for c in frame.columns if str(c).startswith("train/"))
        headline = next((c for c in HEADLINE_LOSSES if c in series), None)
        if headline is not None:
            series = [c for c in series if c != headline] + [headline]
        frame = frame[["step", *series]].astype({"step": int}).sort_values("step", kind="stable")
        out.setdefault(method, {})[stage] = frame.reset_index(drop=True)
    return out


def training_curves(models_root: Path, out_dir: Path) -> list[Path]:
    """The training losses of every trained stage: `out_dir/curves/<method>.png` and `.svg` (one subplot per stage,
    every train/* series against the step, log y-axis when all of the stage's values are > 0), and
    `out_dir/curves/<method>_<stage>.csv` (step + the train/* columns) that `dvc plots` draws (dvc.yaml `plots:`).

    Read from each stage's `curve.json` (bfrbench.training.curves), not from MLflow's metric history: curve.json
    holds the same logged values, is an output DVC tracks (models/, a dependency of the report stage) and carries no
    time stamp, whereas MLflow's store is no DVC dependency and keeps every rerun's history side by side. Returns
    the written files ([] when no stage has a curve)."""
    import numpy as np

    curves = read_curves(models_root)
    folder = Path(out_dir) / CURVES_DIR
    written: list[Path] = []
    for method, stages in sorted(curves.items()):
        for stage, frame in sorted(stages.items()):
            written.append(_write_csv(frame, folder / f"{method}_{stage}.csv"))
        names = sorted(stages)
        ncols = min(3, len(names))
        nrows = math.ceil(len(names) / ncols)
        with _Style():
            fig = _new_figure(4.2 * ncols, 3.2 * nrows + 0.4)
            grid = fig.subplots(nrows, ncols, squeeze=False)
            for idx, stage in enumerate(names):
                ax = grid[idx // ncols][idx % ncols]
                frame = stages[stage]
                series = [c for c in frame.columns if c != "step"]
                for name in series:
                    line = frame[["step", name]].dropna()
                    line = line[np.isfinite(line[name].to_numpy(dtype=float))]
                    if not line.empty:
                        ax.plot(line["step"], line[name], linewidth=1.0, label=name.removeprefix("train/"))
                values = frame[series].to_numpy(dtype=float).ravel() if series else np.array([])
                values = values[np.isfinite(values)]
                if values.size and (values > 0).all():
                    ax.set_yscale("log")
                ax.set_title(stage)
                ax.set_xlabel("step")
                if series:
                    ax.legend(fontsize=7)
            for idx in range(len(names), nrows * ncols):
                grid[idx // ncols][idx % ncols].set_visible(False)
            fig.suptitle(f"{method}: training losses (train/*)")
            written += _save(fig, folder / method)
    return written


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    from bfrbench.io.atomic import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, frame.to_csv(index=False, lineterminator="\n"))
