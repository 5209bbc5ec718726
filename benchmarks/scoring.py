"""The one-pass scoring engine against the field's habit: one metric per run, each run reading every image again.

    .venv/bin/python benchmarks/scoring.py [--images 48] [--size 512] [--profile paper | --metrics a,b,...]
        [--faces artifacts/faces/hq] [--repeat 2]

Both sides score the same folders (PNG, pred vs GT). Rows:
- **engine**: `bfrbench.engine.scoring.score_folders` with every selected metric at once (each pair decoded once).
- **pyiqa, one per run**: for each metric that pyiqa computes under the same convention, a fresh
  `pyiqa.create_metric(...)` called on the two file paths, image by image (pyiqa decodes both files per call), as
  pyiqa's own `inference_iqa.py` does, one metric per invocation.
- **bfrbench, one per run**: for metrics pyiqa has no equivalent of (or no offline weights for), `score_folders`
  with that one metric, i.e. the same code but re-reading the folders per metric.
- **engine, ground truth cached**: the engine again with the ground-truth feature cache (bfrbench.metrics.gt_cache)
  already filled by an earlier run: what every score stage after the first of a test set costs.
The reference rows and the first engine row run with the cache off (`BFRBENCH_FEATURE_CACHE=off`, and the in-process
memory cleared before each run), so they compute everything, as the one-metric tools do.
Values: per metric, the max relative difference between the engine's per-image values and the reference's. Where the
conventions differ on purpose (pyiqa clamps SSIM's contrast term and rounds Y for SSIM; see
tests/metrics/test_psnr_ssim.py) the column says so instead of hiding it.

Faces: the aligned faces in artifacts/faces/hq (run `bfrbench data prepare` first) upscaled to --size (bicubic);
the "restored" side is each face through x4 bilinear down/up plus mild noise, written once to a temp folder.
One thread (OpenMP/MKL/OpenBLAS, OpenCV, torch), best of --repeat.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import logging
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

cv2.setNumThreads(1)
REPO = Path(__file__).resolve().parents[1]
FACES_DIR = REPO / "artifacts" / "faces" / "hq"

def profile_metrics(profile: str) -> str:
    """The score.metrics list of experiments/profiles/PROFILE.yaml (the paper profile's: the field's metric set)."""
    import yaml

    params = yaml.safe_load((REPO / "experiments" / "profiles" / f"{profile}.yaml").read_text())
    return ",".join(params["score"]["metrics"])

# Our metric -> (pyiqa name, options, note on the convention difference or "").
PYIQA_EQUIVALENT = {
    "psnr_rgb": ("psnr", {"test_y_channel": False}, ""),
    "psnr_y": ("psnr", {"test_y_channel": True, "color_space": "ycbcr"}, ""),
    "ssim_rgb": ("ssimc", {}, "pyiqa clamps the contrast-structure term at 0"),
    "ssim_y": ("ssim", {"test_y_channel": True, "color_space": "ycbcr"}, "pyiqa rounds Y to integers for SSIM"),
}


def make_folders(root: Path, n: int, size: int, seed: int, faces_dir: Path = FACES_DIR) -> tuple[Path, Path]:
    """n pairs at size: the faces of faces_dir, cycled when there are fewer (a repeated face is a new file name, so
    the engine reads and scores it again, as a bigger set would cost)."""
    from bfrbench.io.images import list_images, read_image, write_image

    files = list_images(faces_dir) if faces_dir.is_dir() else []
    if not files:
        raise SystemExit(f"no faces in {faces_dir}: run `bfrbench data prepare` first, or pass --faces DIR")
    files = [files[i % len(files)] for i in range(n)]
    rng = np.random.default_rng(seed)
    gt_dir, pred_dir = root / "gt", root / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for i, path in enumerate(files):
        hq = cv2.resize(read_image(path), (size, size), interpolation=cv2.INTER_CUBIC)
        small = cv2.resize(hq, (size // 4, size // 4), interpolation=cv2.INTER_LINEAR)
        lq = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float64)
        lq = np.clip(np.rint(lq + rng.normal(0, 3, lq.shape)), 0, 255).astype(np.uint8)
        write_image(gt_dir / f"{i:05d}_{path.stem}.png", hq)
        write_image(pred_dir / f"{i:05d}_{path.stem}.png", lq)
    return pred_dir, gt_dir


def set_cache(value: str) -> None:
    """The ground-truth feature cache folder ("off": none) and an empty in-process memory: a run computes what this
    setting lets it compute, not what an earlier run left in memory."""
    from bfrbench.metrics import gt_cache

    os.environ[gt_cache.ENV] = value
    gt_cache._MEMORY.clear()


def run_engine(pred_dir: Path, gt_dir: Path, metrics: list[str], cache: str = "off"
               ) -> tuple[float, dict[str, np.ndarray], dict]:
    from bfrbench.engine.scoring import score_folders

    set_cache(cache)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = score_folders(pred_dir, gt_dir, metrics=metrics, out_dir=out, resume=False, progress=False)
        elapsed = time.perf_counter() - t0
        values = _read_csv(Path(out) / "per_image.csv")
    return elapsed, values, summary


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k != "stem"} if rows else {}


def run_pyiqa(pred_dir: Path, gt_dir: Path, metric: str) -> tuple[float, np.ndarray]:
    import pyiqa
    import torch

    name, options, _ = PYIQA_EQUIVALENT[metric]
    t0 = time.perf_counter()
    model = pyiqa.create_metric(name, device="cpu", **options)
    values = []
    with torch.no_grad():
        for pred in sorted(pred_dir.glob("*.png")):
            values.append(float(model(str(pred), str(gt_dir / pred.name))))
    return time.perf_counter() - t0, np.array(values)


def run_single(pred_dir: Path, gt_dir: Path, metric: str) -> tuple[float, np.ndarray]:
    """This metric alone through the engine; a set-level metric (no per-image column) gives its set value."""
    elapsed, values, summary = run_engine(pred_dir, gt_dir, [metric])
    return elapsed, values[metric] if metric in values else np.array([summary["metrics"][metric]["value"]])


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    finite = np.isfinite(a) & np.isfinite(b)
    if not finite.any():
        return 0.0 if np.array_equal(a, b) else float("inf")
    return float(np.max(np.abs(a[finite] - b[finite]) / np.maximum(np.abs(b[finite]), 1e-12)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--profile", default="paper", help="take the metric list from experiments/profiles/PROFILE.yaml")
    ap.add_argument("--metrics", help="comma-separated metric names instead of the profile's list")
    ap.add_argument("--faces", type=Path, default=FACES_DIR, help="folder of aligned faces (cycled to --images)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(1)
    from bfrbench.metrics.registry import METRICS

    requested = [m.strip() for m in (args.metrics or profile_metrics(args.profile)).split(",") if m.strip()]
    metrics = [m for m in requested if m in METRICS]
    for m in sorted(set(requested) - set(metrics)):
        print(f"skipped {m}: not in this version's metric registry")

    with tempfile.TemporaryDirectory() as tmp:
        pred_dir, gt_dir = make_folders(Path(tmp), args.images, args.size, args.seed, args.faces)
        _, _, summary = run_engine(pred_dir, gt_dir, metrics)  # warm-up: model files, imports, which metrics run
        runnable = [m for m in metrics if "unavailable" not in summary["metrics"][m]]
        for m in metrics:
            if m not in runnable:
                print(f"skipped {m}: {summary['metrics'][m]['unavailable']}")
        best_engine, engine_values = float("inf"), {}
        best_ref: dict[str, float] = {}
        ref_values: dict[str, np.ndarray] = {}
        cache_dir = Path(tmp) / "gt_features"
        run_engine(pred_dir, gt_dir, runnable, str(cache_dir))  # fills the ground-truth cache
        best_cached = float("inf")
        for _ in range(args.repeat):
            elapsed, engine_values, engine_summary = run_engine(pred_dir, gt_dir, runnable)
            best_engine = min(best_engine, elapsed)
            elapsed, cached_values, cached_summary = run_engine(pred_dir, gt_dir, runnable, str(cache_dir))
            best_cached = min(best_cached, elapsed)
            for values, summary_now in ((engine_values, engine_summary), (cached_values, cached_summary)):
                for m in runnable:
                    if m not in values:  # set-level metrics: their one value, compared like a column
                        values[m] = np.array([summary_now["metrics"][m]["value"]])
            same = all(np.array_equal(engine_values[m], cached_values[m], equal_nan=True) for m in engine_values)
            if not same:
                raise SystemExit("the cached run's per-image values differ from the uncached run's: a cache bug")
            for m in runnable:
                runner = run_pyiqa if m in PYIQA_EQUIVALENT else run_single
                elapsed, ref_values[m] = runner(pred_dir, gt_dir, m)
                best_ref[m] = min(best_ref.get(m, float("inf")), elapsed)

    n = args.images
    print(f"\n{n} pairs at {args.size}x{args.size}, one thread, best of {args.repeat}\n")
    print("| metric | reference (one metric per run) | ref s | ref pairs/s | max rel diff vs engine | note |")
    print("|---|---|---:|---:|---:|---|")
    for m in runnable:
        kind = f"pyiqa `{PYIQA_EQUIVALENT[m][0]}`" if m in PYIQA_EQUIVALENT else "bfrbench, this metric alone"
        note = PYIQA_EQUIVALENT[m][2] if m in PYIQA_EQUIVALENT else "same code: must be 0"
        diff = rel_diff(engine_values[m], ref_values[m])
        print(f"| {m} | {kind} | {best_ref[m]:.2f} | {n / best_ref[m]:.2f} | {diff:.1e} | {note} |")
    total_ref = sum(best_ref.values())
    print(f"\none metric per run, total: {total_ref:.2f} s ({n / total_ref:.2f} pairs/s)")
    print(f"one-pass engine, all {len(runnable)} metrics: {best_engine:.2f} s ({n / best_engine:.2f} pairs/s)")
    print(f"one-pass engine, ground truth cached: {best_cached:.2f} s ({n / best_cached:.2f} pairs/s; "
          "per-image values identical to the uncached run)")
    print(f"ratio (reference time / engine time): {total_ref / best_engine:.2f}x; with the cache: "
          f"{total_ref / best_cached:.2f}x")


if __name__ == "__main__":
    main()
