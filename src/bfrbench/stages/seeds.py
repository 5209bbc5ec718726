"""The `seeds` stage: a stochastic method restored with K different seeds, each scored, for a mean +- std.

params.yaml `restore.seeds: K` (default 1). A diffusion method's output depends on its noise; one seed's number can
flatter or wrong it. For a stochastic method (its registry behaviour line says so) and K > 1, seeds 1..K-1 are
restored by the one restore runner (`run_restore(..., seed_offset=k)`: every image's noise generator is seeded by
(the method's seed + k, the image)) and scored by the one score runner with the profile's metrics; seed 0 is the
pipeline's own `restore@`/`score@` output (`scores/METHOD/TESTSET/summary.json`). `seeds/METHOD/TESTSET/summary.json`
holds, per metric, each seed's value, the mean and the sample standard deviation; the report's "Seed spread" table
shows mean +- std. A deterministic method, or K = 1, writes a summary that says so and restores nothing.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench import paths


def is_stochastic(method: str) -> bool:
    from bfrbench.methods.registry import METHODS

    spec = METHODS.get(method)
    return spec is not None and spec.behaviour.startswith("stochastic")


def spread(per_seed: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{metric: {"values": [...], "mean", "std", "n_seeds"}} over the metrics every seed has a finite value for."""
    names = [m for m in per_seed[0] if all(isinstance((s.get(m) or {}).get("value"), (int, float))
                                           and math.isfinite(s[m]["value"]) for s in per_seed)]
    out = {}
    for name in names:
        values = [float(s[name]["value"]) for s in per_seed]
        out[name] = {"values": values, "mean": statistics.fmean(values),
                     "std": statistics.stdev(values) if len(values) > 1 else 0.0, "n_seeds": len(values)}
    return out


def run_seeds(params: Mapping[str, Any], method: str, testset: str, out: Path, devices=None, overwrite: bool = False,
              progress: bool = True) -> dict[str, Any]:
    from bfrbench.config import score_metric_options
    from bfrbench.engine.scoring import score_folders
    from bfrbench.errors import BFRBenchError
    from bfrbench.io.atomic import atomic_dir
    from bfrbench.stages.restore import run_restore

    restore_cfg, score_cfg = params.get("restore") or {}, params.get("score") or {}
    k = int(restore_cfg.get("seeds", 1))
    summary: dict[str, Any] = {"method": method, "testset": testset, "seeds": k, "stochastic": is_stochastic(method)}
    base = paths.score_dir(method, testset) / "summary.json"
    with atomic_dir(out, overwrite=overwrite) as tmp:
        if k > 1 and summary["stochastic"]:
            if not base.is_file():
                raise BFRBenchError(f"{base}: seed 0's scores are missing", fix=f"run `dvc repro score@{method}-"
                                    f"{testset}` first")
            per_seed = [json.loads(base.read_text(encoding="utf-8")).get("metrics", {})]
            testset_dir = paths.testset_dir(testset)
            gt = testset_dir / "hq" if (testset_dir / "hq").is_dir() else None
            for offset in range(1, k):
                images = tmp / f"seed_{offset}" / "images"
                run_restore(method, testset_dir / "lq", images, paths.model_dir(method),
                            batch_size=int(restore_cfg.get("batch_size", 8)), devices=devices,
                            size=params.get("size"), progress=progress, profile=params.get("profile", "adhoc"),
                            testset=testset, sampling=(params.get("sampling") or {}).get(method) or {},
                            work=paths.CHECKPOINTS / "seeds" / method / testset / f"seed_{offset}", restart=True,
                            speed_file=paths.SPEED / method / f"{testset}.seed_{offset}.json", seed_offset=offset)
                scored = score_folders(images, gt, metrics=score_cfg.get("metrics"), out_dir=tmp / f"seed_{offset}",
                                       batch_size=int(score_cfg.get("batch_size", 8)), resume=False,
                                       progress=progress,
                                       metric_options=score_metric_options(params, testset, score_cfg.get("metrics")))
                per_seed.append((scored or {}).get("metrics", {}))
            summary["metrics"] = spread(per_seed)
        else:
            summary["note"] = ("restore.seeds is 1: one seed, no spread" if k <= 1 else
                               "deterministic method: every seed restores the same images")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary
