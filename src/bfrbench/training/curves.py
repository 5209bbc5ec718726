"""Loss curves of a training stage, and their check against a committed reference.

Every training stage records its logged training losses (`train/*`) at batch 1 and every `log_every_n_steps`
batches (the curve travels in the checkpoints, so a resumed run has the whole of it) and writes them to
`curve.json` beside the weights. A reference is recorded with the same config and seed (smoke stages)
(`experiments/METHOD/CONFIG.curve.json`); `bfrbench train ... --check` compares a run with it:

- on a machine whose numeric environment matches the reference's (CPU model, kernel level, thread count, torch):
  every value must be identical, bit for bit (training is deterministic there, docs/reproducibility.md);
- elsewhere: within `CROSS_MACHINE_RTOL` of the reference, with a floor `CROSS_MACHINE_ATOL` for losses near 0.

Why a tolerance of that size: another CPU's float kernels change the last bits of each step's result, and training
carries those differences forward. Perturbing the kernels on one machine the way another CPU does moved the smoke
unet_l1 curve (200 steps, 11 points) by at most 4.6e-4 relative (1 thread instead of 2: another reduction order)
and 2.0e-4 (`ATEN_CPU_CAPABILITY=default`, no AVX2 kernels); docs/reproducibility.md, "Reference loss curves". The
bound is about 100 times that, leaving room for the GAN stages, whose losses respond more to a small change of the
discriminator (not measured yet); it still fails a run whose code, library versions or data train something else.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L

from bfrbench.errors import ConfigError

CURVE_FILE = "curve.json"
# (see the module docstring for why these sizes)
CROSS_MACHINE_RTOL = 0.05
CROSS_MACHINE_ATOL = 0.002
# The parts of the environment fingerprint that decide the bits of a float result on the CPU.
NUMERIC_ENVIRONMENT = ("cpu", "cpu_capability", "threads", "torch", "gpu", "cuda")


class LossCurve(L.Callback):
    """Records `train/*` values of batch 1 and of every `every`-th batch (1-based batch numbers)."""

    def __init__(self, every: int) -> None:
        self.every = max(1, int(every))
        self.points: dict[int, dict[str, float]] = {}

    def state_dict(self) -> dict[str, Any]:
        return {"every": self.every, "points": {str(k): dict(v) for k, v in self.points.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.points = {int(k): {n: float(x) for n, x in v.items()} for k, v in state_dict["points"].items()}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = int(trainer.fit_loop.epoch_loop.batch_progress.total.processed)
        if step == 1 or step % self.every == 0:
            values = {k: float(v) for k, v in sorted(trainer.callback_metrics.items()) if k.startswith("train/")}
            if values:
                self.points[step] = values


def curve_document(state: Mapping[str, Any]) -> dict[str, Any]:
    """The curve as written to curve.json: a list of points ({"step": n, "train/...": value}) that `dvc plots` reads."""
    points = [{"step": int(k), **v} for k, v in sorted(state.get("points", {}).items(), key=lambda kv: int(kv[0]))]
    return {"every": int(state.get("every", 1)), "points": points}


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_nulls(v) for v in value]
    return value


def config_digest(config: Mapping[str, Any]) -> str:
    """The digest a reference curve is keyed by. Keys whose value is null are left out: a new optional setting added
    to the defaults as null (off) changes no run, so it must not orphan every recorded reference; setting it to a
    value, or a value to null, does change the digest."""
    return hashlib.sha256(json.dumps(_without_nulls(config), sort_keys=True, default=str).encode()).hexdigest()[:16]


def reference_path(config_file: str | Path) -> Path:
    """experiments/METHOD/STAGE_PROFILE.yaml -> experiments/METHOD/STAGE_PROFILE.curve.json"""
    path = Path(config_file)
    return path.with_name(f"{path.stem}.curve.json")


def reference_document(card: Mapping[str, Any], curve: Mapping[str, Any], seed: int, size: int) -> dict[str, Any]:
    return {"method": card["method"], "stage": card["stage"], "seed": int(seed), "size": int(size),
            "config_sha256": config_digest(card["config"]), "environment": card["environment"],
            "every": curve["every"], "points": curve["points"]}


def same_numeric_environment(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in NUMERIC_ENVIRONMENT)


def compare_curves(run: Mapping[str, Any], reference: Mapping[str, Any], exact: bool) -> dict[str, Any]:
    """Point-by-point comparison; returns {"ok", "exact", "rows": per loss: worst deviation and where, "problems"}."""
    ref_points = {p["step"]: p for p in reference["points"]}
    run_points = {p["step"]: p for p in run["points"]}
    problems: list[str] = []
    if sorted(ref_points) != sorted(run_points):
        missing = sorted(set(ref_points) - set(run_points))
        extra = sorted(set(run_points) - set(ref_points))
        problems.append(f"recorded steps differ (missing {missing[:5]}, extra {extra[:5]})")
    rows: dict[str, dict[str, Any]] = {}
    for step in sorted(set(ref_points) & set(run_points)):
        want, got = ref_points[step], run_points[step]
        keys = sorted((set(want) | set(got)) - {"step"})
        for key in keys:
            if key not in want or key not in got:
                problems.append(f"step {step}: {key} is logged in only one of the two curves")
                continue
            a, b = float(got[key]), float(want[key])
            dev = abs(a - b)
            rel = dev / max(abs(b), 1e-12)
            within = math.isfinite(a) and dev <= CROSS_MACHINE_ATOL + CROSS_MACHINE_RTOL * abs(b)
            bad = (a != b) if exact else not within
            row = rows.setdefault(key, {"max_abs": 0.0, "max_rel": 0.0, "at_step": step, "failed_steps": 0,
                                        "points": 0})
            row["points"] += 1
            if dev > row["max_abs"]:
                row.update(max_abs=dev, max_rel=rel, at_step=step)
            if bad:
                row["failed_steps"] += 1
    for key, row in rows.items():
        if row["failed_steps"]:
            rule = "identical values" if exact else f"|run - ref| <= {CROSS_MACHINE_ATOL} + {CROSS_MACHINE_RTOL} |ref|"
            problems.append(f"{key}: {row['failed_steps']} of {row['points']} points break {rule} (worst at step "
                            f"{row['at_step']}: |diff| {row['max_abs']:.3g}, rel {row['max_rel']:.3g})")
    return {"ok": not problems, "exact": exact, "rows": rows, "problems": problems}


def check_against_reference(out_dir: Path, config_file: str | Path, seed: int, size: int,
                            reference: Path | None = None) -> dict[str, Any]:
    """Compare the curve of the stage written to `out_dir` with its committed reference."""
    ref_path = Path(reference) if reference else reference_path(config_file)
    if not ref_path.is_file():
        raise ConfigError(f"{ref_path}: no reference curve for {config_file}",
                          fix="record one with `bfrbench train METHOD STAGE --config CONFIG --record`")
    ref = json.loads(ref_path.read_text(encoding="utf-8"))
    card = json.loads((out_dir / "card.json").read_text(encoding="utf-8"))
    curve = json.loads((out_dir / CURVE_FILE).read_text(encoding="utf-8"))
    mine = reference_document(card, curve, seed, size)
    for key in ("method", "stage", "seed", "size", "config_sha256"):
        if mine[key] != ref[key]:
            raise ConfigError(f"{ref_path}: the reference was recorded with {key} {ref[key]!r}, this run has "
                              f"{mine[key]!r}: the curves are not comparable",
                              fix="check with the reference's config and seed, or record a new reference (--record)")
    exact = same_numeric_environment(mine["environment"], ref["environment"])
    result = compare_curves(mine, ref, exact)
    result["reference"] = str(ref_path)
    return result


def record_reference(out_dir: Path, config_file: str | Path, seed: int, size: int, overwrite: bool = False,
                     reference: Path | None = None) -> Path:
    from bfrbench.io.atomic import write_text_atomic

    ref_path = Path(reference) if reference else reference_path(config_file)
    if ref_path.exists() and not overwrite:
        raise ConfigError(f"{ref_path} exists", fix="pass --overwrite to record a new reference curve")
    card = json.loads((out_dir / "card.json").read_text(encoding="utf-8"))
    curve = json.loads((out_dir / CURVE_FILE).read_text(encoding="utf-8"))
    doc = reference_document(card, curve, seed, size)
    write_text_atomic(ref_path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return ref_path


def format_comparison(result: Mapping[str, Any]) -> str:
    mode = "bit-identical (same numeric environment)" if result["exact"] else (
        f"cross-machine tolerance |diff| <= {CROSS_MACHINE_ATOL} + {CROSS_MACHINE_RTOL} |ref|")
    lines = [f"reference {result['reference']}: {mode}",
             f"{'loss':<28} {'points':>6} {'max |diff|':>11} {'max rel':>9} {'at step':>8} {'failed':>6}"]
    for key, row in sorted(result["rows"].items()):
        lines.append(f"{key:<28} {row['points']:>6} {row['max_abs']:>11.3g} {row['max_rel']:>9.3g} "
                     f"{row['at_step']:>8} {row['failed_steps']:>6}")
    lines += [f"  problem: {p}" for p in result["problems"]]
    lines.append("curve check: " + ("PASS" if result["ok"] else "FAIL"))
    return "\n".join(lines)
