"""The one-pass scoring engine against the field's habit: one metric per run, each run reading every image again.

    .venv/bin/python benchmarks/scoring.py [--images 48] [--size 512] [--metrics psnr_rgb,psnr_y,...] [--repeat 2]

Both sides score the same folders (PNG, pred vs GT). Rows:
- **engine**: `bfrbench.engine.scoring.score_folders` with every selected metric at once (each pair decoded once).
- **pyiqa, one per run**: for each metric that pyiqa computes under the same convention, a fresh
  `pyiqa.create_metric(...)` called on the two file paths, image by image (pyiqa decodes both files per call), as
  pyiqa's own `inference_iqa.py` does, one metric per invocation.
- **bfrbench, one per run**: for metrics pyiqa has no equivalent of (or no offline weights for), `score_folders`
  with that one metric, i.e. the same code but re-reading the folders per metric.
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
DEFAULT_METRICS = "psnr_rgb,psnr_y,ssim_rgb,ssim_y,ids_dlib,niqe"

# Our metric -> (pyiqa name, options, note on the convention difference or "").
PYIQA_EQUIVALENT = {
    "psnr_rgb": ("psnr", {"test_y_channel": False}, ""),
    "psnr_y": ("psnr", {"test_y_channel": True, "color_space": "ycbcr"}, ""),
    "ssim_rgb": ("ssimc", {}, "pyiqa clamps the contrast-structure term at 0"),
    "ssim_y": ("ssim", {"test_y_channel": True, "color_space": "ycbcr"}, "pyiqa rounds Y to integers for SSIM"),
}


def make_folders(root: Path, n: int, size: int, seed: int) -> tuple[Path, Path]:
    from bfrbench.io.images import list_images, read_image, write_image

    files = list_images(FACES_DIR)[:n] if FACES_DIR.is_dir() else []
    if len(files) < n:
        raise SystemExit(f"need {n} faces in {FACES_DIR}, found {len(files)}: run `bfrbench data prepare` first")
    rng = np.random.default_rng(seed)
    gt_dir, pred_dir = root / "gt", root / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for path in files:
        hq = cv2.resize(read_image(path), (size, size), interpolation=cv2.INTER_CUBIC)
        small = cv2.resize(hq, (size // 4, size // 4), interpolation=cv2.INTER_LINEAR)
        lq = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float64)
        lq = np.clip(np.rint(lq + rng.normal(0, 3, lq.shape)), 0, 255).astype(np.uint8)
        write_image(gt_dir / f"{path.stem}.png", hq)
        write_image(pred_dir / f"{path.stem}.png", lq)
    return pred_dir, gt_dir


def run_engine(pred_dir: Path, gt_dir: Path, metrics: list[str]) -> tuple[float, dict[str, np.ndarray], dict]:
    from bfrbench.engine.scoring import score_folders

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
    elapsed, values, _ = run_engine(pred_dir, gt_dir, [metric])
    return elapsed, values[metric]


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    finite = np.isfinite(a) & np.isfinite(b)
    if not finite.any():
        return 0.0 if np.array_equal(a, b) else float("inf")
    return float(np.max(np.abs(a[finite] - b[finite]) / np.maximum(np.abs(b[finite]), 1e-12)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--metrics", default=DEFAULT_METRICS)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(1)
    from bfrbench.metrics.registry import METRICS

    requested = [m.strip() for m in args.metrics.split(",") if m.strip()]
    metrics = [m for m in requested if m in METRICS]
    for m in sorted(set(requested) - set(metrics)):
        print(f"skipped {m}: not in this version's metric registry")

    with tempfile.TemporaryDirectory() as tmp:
        pred_dir, gt_dir = make_folders(Path(tmp), args.images, args.size, args.seed)
        _, _, summary = run_engine(pred_dir, gt_dir, metrics)
        runnable = [m for m in metrics if "unavailable" not in summary["metrics"][m]]
        for m in metrics:
            if m not in runnable:
                print(f"skipped {m}: {summary['metrics'][m]['unavailable']}")
        best_engine, engine_values = float("inf"), {}
        best_ref: dict[str, float] = {}
        ref_values: dict[str, np.ndarray] = {}
        for _ in range(args.repeat):
            elapsed, engine_values, _ = run_engine(pred_dir, gt_dir, runnable)
            best_engine = min(best_engine, elapsed)
            for m in runnable:
                runner = run_pyiqa if m in PYIQA_EQUIVALENT else run_single
                elapsed, ref_values[m] = runner(pred_dir, gt_dir, m)
                best_ref[m] = min(best_ref.get(m, float("inf")), elapsed)

    n = args.images
    print(f"\n{n} pairs at {args.size}x{args.size}, one thread, best of {args.repeat}\n")
    print("| metric | reference (one metric per run) | ref s | max rel diff vs engine | note |")
    print("|---|---|---|---|---|")
    for m in runnable:
        kind = f"pyiqa `{PYIQA_EQUIVALENT[m][0]}`" if m in PYIQA_EQUIVALENT else "bfrbench, this metric alone"
        note = PYIQA_EQUIVALENT[m][2] if m in PYIQA_EQUIVALENT else "same code: must be 0"
        print(f"| {m} | {kind} | {best_ref[m]:.2f} | {rel_diff(engine_values[m], ref_values[m]):.1e} | {note} |")
    total_ref = sum(best_ref.values())
    print(f"\none metric per run, total: {total_ref:.2f} s ({n / total_ref:.1f} pairs/s)")
    print(f"one-pass engine, all {len(runnable)} metrics: {best_engine:.2f} s ({n / best_engine:.1f} pairs/s)")
    print(f"ratio (reference time / engine time): {total_ref / best_engine:.2f}x")


if __name__ == "__main__":
    main()
