"""The one runner every training stage goes through: seed, build, data, resume folder, fit, export, card.

A method supplies only what is its own: `default_config(stage)` and `plan(ctx)`, which builds the stage's
LightningModule and says how to export it (a `TrainPlan`), or, for stages with nothing to train (official weights,
link rows, closed-form fits), returns the card and files to write (`NoTraining`). Everything else is here, once:
- every generator (Python, numpy, torch, CUDA, data workers) is seeded BEFORE `plan` builds any module, so random
  initialisation is the same in every run;
- the DataModule comes from the config's `data` block (`BFRDataModule.from_config`);
- the resume folder is keyed by the config, the run's identity, the package's code and the bytes of the earlier
  stages the plan reads, so a changed input never resumes an old run;
- weights and the card are exported from the final checkpoint, so a run that was killed and resumed, a run that was
  never interrupted and a re-run of a finished stage write the same bytes;
- the logged losses at fixed steps go to curve.json, for `bfrbench train ... --check` (training/curves.py);
- the card holds no time stamp and no absolute path (DVC hashes it); timings go to MLflow.

Shared config vocabulary (every method): `data`, `trainer`, `optim.lr`, `optim.lr_disc`, `loss.adversarial_start`,
`ema.decay`. Sampling settings are not training settings: they live in experiments/METHOD/restore_PROFILE.yaml.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bfrbench.errors import ConfigError

SUITE = "trained by the suite"

# Keys of earlier versions -> where the setting lives now (an old config fails with the new name, never silently).
RENAMED: dict[str, str] = {
    "losses": "loss",
    "disc_start": "loss.adversarial_start",
    "loss.disc_start": "loss.adversarial_start",
    "optim.disc_lr": "optim.lr_disc",
    "ema_decay": "ema.decay",
}
MOVED_TO_RESTORE = ("sampler", "sampling")


@dataclass
class TrainPlan:
    """What a method's `plan` returns for a stage that trains."""

    module: Any  # the LightningModule
    export: Callable[[Any], dict[str, Any]]  # trained module -> {file name: object for torch.save}
    card: dict[str, Any] = field(default_factory=dict)  # extra card entries (`source` defaults to SUITE)
    describe: Callable[[Any], dict[str, Any]] | None = None  # trained module -> more card entries
    size: int | None = None  # the DataModule's image size when it is not the profile's
    upstream: tuple[Path, ...] = ()  # files of earlier stages this one reads: their bytes key the resume folder
    resume_key: dict[str, Any] = field(default_factory=dict)  # anything else that must key the resume folder


@dataclass
class NoTraining:
    """A stage with nothing for Lightning to train: its card (and files) are written as they are."""

    card: dict[str, Any]
    files: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def check_vocabulary(config: Mapping[str, Any], where: str, stage: str = "") -> None:
    """Refuse keys of the old per-method vocabularies and sampling settings in a training config."""

    def has(path: str) -> bool:
        node: Any = config
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
        return True

    for old, new in RENAMED.items():
        if has(old):
            raise ConfigError(f"{where}: `{old}` was renamed", fix=f"use `{new}` (one vocabulary for every method)")
    for key in MOVED_TO_RESTORE:
        if has(key):
            raise ConfigError(f"{where}: `{key}` is a restore-time setting, not a training one",
                              fix="move it to experiments/METHOD/restore_PROFILE.yaml (changing it must not retrain)")


def folder_fingerprint(root: Path) -> str:
    """Names, sizes and modification times of every file under `root`: cheap on a 70k-image set, and it changes
    when the folder does (a resume folder is local, so local time stamps are fine here; nothing DVC hashes)."""
    digest = hashlib.sha256()
    root = Path(root)
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            st = path.stat()
            digest.update(f"{path.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def resume_dir(ctx, cfg: Mapping[str, Any], plan: TrainPlan) -> Path:
    from bfrbench.assets import sha256_file
    from bfrbench.training.fingerprint import config_hash

    identity = {"seed": ctx.seed, "size": plan.size or ctx.size, "faces": folder_fingerprint(ctx.faces_dir),
                "upstream": [sha256_file(p) for p in plan.upstream], **plan.resume_key}
    root = Path(ctx.extras.get("work_root", Path("checkpoints")))
    return root / ctx.method / ctx.stage / config_hash(cfg, identity)


def torch_bytes(obj: Any) -> bytes:
    """torch.save into memory: the archive's inner folder name comes from the file name, so saving to a temporary
    name and renaming would give other bytes for the same weights."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def write_outputs(out_dir: Path, files: Mapping[str, Any], card: Mapping[str, Any]) -> None:
    from bfrbench.io.atomic import write_bytes_atomic, write_text_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, obj in files.items():
        write_bytes_atomic(out_dir / name, obj if isinstance(obj, bytes) else torch_bytes(obj))
    # the model card: what the stage produced and how (the report reads `source`; methods read it with read_card)
    write_text_atomic(out_dir / "card.json", json.dumps(card, indent=2, sort_keys=True) + "\n")


def seed_everything(seed: int) -> None:
    """What `lightning.seed_everything(seed, workers=True)` does (Python's, numpy's and torch's generators, and the
    PL_GLOBAL_SEED / PL_SEED_WORKERS variables spawned processes and loader workers read), without importing
    Lightning: its import costs ~7 s (torchmetrics pulls in transformers, torchvision, scipy.signal), which the
    stages that train nothing (cards, links, fits) would pay for the seed alone. tests/training/test_seed.py checks
    that both leave the same state."""
    import os
    import random

    import numpy as np
    import torch

    seed = int(seed)
    if not (np.iinfo(np.uint32).min <= seed <= np.iinfo(np.uint32).max):
        raise ValueError(f"{seed} is not in bounds, numpy accepts from 0 to {np.iinfo(np.uint32).max}")
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PL_SEED_WORKERS"] = "1"


def stage_defaults(method, stage: str) -> dict[str, Any]:
    """The method's defaults for `stage`; its `data` block is overlaid on the DataModule's DATA_DEFAULTS, so every
    method accepts the same data keys and states only where it differs."""
    defaults = method.default_config(stage)
    if isinstance(defaults.get("data"), Mapping):
        from bfrbench.data.datamodule import DATA_DEFAULTS

        defaults["data"] = {**json.loads(json.dumps(DATA_DEFAULTS)), **defaults["data"]}
    return defaults


def merged_config(method, stage: str, config: Mapping[str, Any], where: str) -> dict[str, Any]:
    from bfrbench.config import merge_known

    check_vocabulary(config, where)
    return merge_known(stage_defaults(method, stage), config, where)


def stage_datamodule(ctx, size: int | None = None):
    """The stage's DataModule, from its config's `data` block: the one place a training stage's data are built
    (the Lightning fit, and a method's own pre-fit such as FLIPNET's smoke backbone fit, read the same samples)."""
    from bfrbench.data.datamodule import BFRDataModule

    where = f"{ctx.method}/{ctx.stage}.data"
    return BFRDataModule.from_config(ctx.faces_dir, size or ctx.size, ctx.seed, ctx.config.get("data") or {}, where)


def run_stage(method, ctx) -> dict[str, Any]:
    """Run training stage `ctx.stage` of `method`; returns the final metrics (rank 0; {} on other ranks)."""
    where = f"{method.name}/{ctx.stage}"
    cfg = merged_config(method, ctx.stage, ctx.config, where)
    ctx.config = cfg
    seed_everything(ctx.seed)  # before any module exists: random init is part of the run's bytes
    plan = method.plan(ctx)
    if isinstance(plan, NoTraining):
        from bfrbench.training.trainer import is_global_zero

        if (cfg.get("data") or {}).get("degrade_on") not in (None, "cpu"):  # nothing is degraded: never ignore it
            raise ConfigError(f"{where}: data.degrade_on is {cfg['data']['degrade_on']!r}, but this stage trains "
                              "nothing (no data are read)", fix="remove data.degrade_on")

        if is_global_zero():
            write_outputs(ctx.out_dir, plan.files, plan.card)
        return dict(plan.metrics)
    return _train(method, ctx, cfg, plan, where)


def _train(method, ctx, cfg: dict[str, Any], plan: TrainPlan, where: str) -> dict[str, Any]:
    import torch

    from bfrbench.training.callbacks import FinalMetrics
    from bfrbench.training.curves import CURVE_FILE, LossCurve, curve_document
    from bfrbench.training.environment import environment_fingerprint
    from bfrbench.training.trainer import final_checkpoint, fit, trainer_config

    tcfg = trainer_config(cfg.get("trainer") or {}, f"{where}.trainer")
    if (cfg.get("data") or {}).get("real_pairs") and not getattr(plan.module, "uses_real_pairs", False):
        raise ConfigError(f"{where}: data.real_pairs is set, but this stage does not train on real degradation pairs",
                          fix="remove data.real_pairs (FLIPNET's diffusion stage reads them)")
    dm = stage_datamodule(ctx, plan.size)
    work = resume_dir(ctx, cfg, plan)
    # extras["callbacks"]: e.g. the preflight probe (bfrbench.preflight.probe), which measures and may stop the run
    trainer = fit(plan.module, dm, tcfg, work, run=ctx.logger, progress=ctx.progress,
                  extra_callbacks=ctx.extras.get("callbacks"))
    if trainer.global_rank != 0:
        return {}
    final = torch.load(final_checkpoint(work), map_location="cpu", weights_only=True)
    # The final step's weights, whether this process trained, resumed a killed run or found it finished.
    plan.module.load_state_dict(final["state_dict"], strict=True)
    metrics = {k: float(v) for k, v in sorted(final["callbacks"].get(FinalMetrics().state_key, {}).items())}
    card = {"method": method.name, "stage": ctx.stage, "source": SUITE, "config": cfg,
            "degradation_path": dm.degradation_path,  # where data.degrade_on made the training LQ
            "steps": int(final["global_step"]), "final_metrics": metrics,
            "environment": environment_fingerprint(tcfg["accelerator"], tcfg["deterministic"]), **plan.card}
    if plan.describe is not None:
        card.update(plan.describe(plan.module))
    curve = curve_document(final["callbacks"].get(LossCurve(1).state_key, {}))
    files = {**plan.export(plan.module), CURVE_FILE: (json.dumps(curve, indent=1) + "\n").encode()}
    write_outputs(ctx.out_dir, files, json.loads(json.dumps(card, default=str)))
    return metrics
