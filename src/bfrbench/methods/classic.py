"""`classic`: non-local-means denoising followed by an unsharp mask.

The honest non-learned baseline: its three parameters (denoising strength h, unsharp amount and radius) are chosen
by grid search for the best mean PSNR on training faces degraded by the training preset. No generative prior.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.errors import BFRBenchError
from bfrbench.methods.base import StageContext
from bfrbench.training.stage import NoTraining

DEFAULTS = {
    "degradation": {"preset": "codeformer_stage2"},
    "num_faces": 48,
    "grid": {"h": [0.0, 4.0, 8.0, 12.0], "amount": [0.0, 0.5, 1.0], "radius": [1.0, 2.0]},
}


PREFLIGHT_FACES = 2


def denoise_sharpen(rgb: np.ndarray, h: float, amount: float, radius: float) -> np.ndarray:
    import cv2

    out = rgb
    if h > 0:
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        out = cv2.fastNlMeansDenoisingColored(bgr, None, float(h), float(h), 5, 15)[:, :, ::-1]
    if amount > 0:
        f = out.astype(np.float32)
        blurred = cv2.GaussianBlur(f, (0, 0), float(radius))
        out = np.clip(np.round(f + amount * (f - blurred)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


class _Restorer:
    nfe = 0  # no network: non-local means and an unsharp mask

    def __init__(self, h: float, amount: float, radius: float):
        self.h, self.amount, self.radius = h, amount, radius

    def restore(self, lq: np.ndarray) -> np.ndarray:
        return np.stack([denoise_sharpen(img, self.h, self.amount, self.radius) for img in lq])


class ClassicDenoiseSharpen:
    name = "classic"
    stages = ("fit",)

    def default_config(self, stage: str) -> dict[str, Any]:
        return json.loads(json.dumps(DEFAULTS))

    def plan(self, ctx: StageContext) -> NoTraining:
        from tqdm.auto import tqdm

        from bfrbench.data.degradation import DegradationPipeline
        from bfrbench.data.faces import face_paths, read_face

        cfg = ctx.config
        paths = face_paths(ctx.faces_dir, "train")[: int(cfg["num_faces"])]
        if not paths:
            raise BFRBenchError(f"{ctx.faces_dir}: the train split is empty", fix="prepare the faces first")
        pipeline = DegradationPipeline.from_config(cfg["degradation"], seed=ctx.seed)
        pairs = []
        for i, p in enumerate(paths):
            hq = read_face(p)
            pairs.append((pipeline(hq, i)[0], hq))
        grid = cfg["grid"]
        combos = list(itertools.product(grid["h"], grid["amount"], grid["radius"]))
        results = []
        for h, amount, radius in tqdm(combos, desc="classic: grid search", disable=not ctx.progress):
            if amount == 0 and radius != grid["radius"][0]:
                continue  # radius is irrelevant without sharpening
            score = float(np.mean([_psnr(denoise_sharpen(lq, h, amount, radius), hq) for lq, hq in pairs]))
            results.append({"h": h, "amount": amount, "radius": radius, "psnr_rgb": score})
        best = max(results, key=lambda r: r["psnr_rgb"])
        card = {
            "method": self.name,
            "stage": ctx.stage,
            "source": "fitted by the suite (grid search on the train split)",
            "config": cfg,
            "fitted": {k: best[k] for k in ("h", "amount", "radius")},
            "fit_psnr_rgb": best["psnr_rgb"],
            "num_faces": len(pairs),
            "grid_results": results,
        }
        return NoTraining(card, metrics={"fit_psnr_rgb": best["psnr_rgb"],
                                         **{f"best_{k}": best[k] for k in ("h", "amount", "radius")}})

    def sampling_defaults(self) -> dict[str, Any]:
        return {}  # deterministic: no restore-time settings

    def preflight_config(self, stage: str, cfg: dict[str, Any], size: int):
        """bfrbench preflight: the grid search on 2 faces; its time is linear in num_faces (work_scale)."""
        from bfrbench.methods.preflight import effective, start

        change, faces = start(cfg), int(effective(self, stage, cfg)["num_faces"])
        if faces > PREFLIGHT_FACES:
            change.config["num_faces"] = PREFLIGHT_FACES
            change.work_scale = faces / PREFLIGHT_FACES
            change.notes.append(f"grid search on {PREFLIGHT_FACES} of the configured {faces} faces (its time is "
                                f"linear in num_faces: projected x{change.work_scale:g})")
        return change

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None) -> _Restorer:
        card_path = Path(models_dir) / "fit" / "card.json"
        if not card_path.is_file():
            raise BFRBenchError(f"{card_path}: classic has not been fitted", fix="run `dvc repro train@classic-fit`")
        fitted = json.loads(card_path.read_text())["fitted"]
        return _Restorer(float(fitted["h"]), float(fitted["amount"]), float(fitted["radius"]))
