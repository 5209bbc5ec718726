"""Learning-rate schedules of the training stages: torch's schedulers, stepped once per optimizer step.

A stage config's `optim.schedule` names one (unknown keys are errors):

- `{type: constant}`: the configured lr throughout (the default);
- `{type: cosine, eta_min: LR}`: cosine annealing from `optim.lr` to `eta_min` over `trainer.max_steps`
  (CodeFormer's CosineAnnealingRestartLR with one period of the whole run and restart weight 1 is exactly this);
- `{type: multistep, milestones: [F, ...], gamma: G}`: lr x G at each milestone;
- `warmup: F` with any type: a linear ramp, lr x (k + 1) / W at step k of the first W = F x max_steps steps
  (DifFace's prior), then the schedule.

Lengths are FRACTIONS of `trainer.max_steps` (milestones [0.8, 0.9] of 500k = 400k and 450k): a shortened smoke run
goes through the same shape, and the paper configs land on the official iteration numbers (the recipe test,
tests/methods/test_official_recipes.py, holds them there). Why torch's schedulers and not our own: Lightning saves
and restores their state in every checkpoint, so a killed run resumes on the same learning rate. Automatic
optimisation steps them through Lightning's `lr_scheduler` config (interval "step"); manual-optimisation stages call
`step_schedulers` once per generator step, every scheduler, as the official trainers step every optimizer's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from bfrbench.errors import ConfigError

TYPES = ("constant", "cosine", "multistep")
KEYS = {"constant": set(), "cosine": {"eta_min"}, "multistep": {"milestones", "gamma"}}


def check_schedule(schedule: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """The schedule block, checked: a known type, only its keys, fractions in (0, 1]."""
    block = dict(schedule or {"type": "constant"})
    kind = block.get("type", "constant")
    if kind not in TYPES:
        raise ConfigError(f"{where}: optim.schedule.type {kind!r} is not one of {', '.join(TYPES)}")
    unknown = set(block) - {"type", "warmup"} - KEYS[kind]
    if unknown:
        raise ConfigError(f"{where}: optim.schedule has keys {sorted(unknown)} that type {kind} does not use",
                          fix=f"{kind} takes: {sorted(KEYS[kind] | {'warmup'}) or 'warmup only'}")
    fractions = [("warmup", block.get("warmup", 0.0))] + [("milestones", m) for m in block.get("milestones", [])]
    for name, value in fractions:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ConfigError(f"{where}: optim.schedule.{name} {value!r} is not a fraction of max_steps in [0, 1]",
                              fix="e.g. milestones: [0.8, 0.9] for 400k and 450k of 500k steps")
    if kind == "cosine" and "eta_min" not in block:
        raise ConfigError(f"{where}: optim.schedule type cosine needs eta_min (the final learning rate)")
    if kind == "multistep" and not ("milestones" in block and "gamma" in block):
        raise ConfigError(f"{where}: optim.schedule type multistep needs milestones and gamma")
    return block


def steps_of(fraction: float, max_steps: int) -> int:
    return int(round(float(fraction) * max_steps))


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: Mapping[str, Any] | None,
                    max_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The torch scheduler of `schedule` over `max_steps` optimizer steps."""
    block = check_schedule(schedule, "stage config")
    steps = max(1, int(max_steps))
    warmup = steps_of(block.get("warmup", 0.0), steps)
    kind = block.get("type", "constant")
    sched = torch.optim.lr_scheduler
    if kind == "cosine":
        main = sched.CosineAnnealingLR(optimizer, T_max=steps, eta_min=float(block["eta_min"]))
    elif kind == "multistep":
        milestones = [steps_of(m, steps) for m in block["milestones"]]
        main = sched.MultiStepLR(optimizer, milestones=milestones, gamma=float(block["gamma"]))
    else:
        main = sched.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if warmup <= 1:
        return main
    # step k of the ramp runs at lr x (k + 1) / W, as DifFace's adjust_lr (iteration k + 1 of W): the full lr at
    # step W - 1, the schedule from step W on
    ramp = sched.LinearLR(optimizer, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup - 1)
    return sched.SequentialLR(optimizer, [ramp, main], milestones=[warmup])


def max_steps_of(module) -> int:
    """The run's length as the stage's trainer has it (1 when only epochs bound it: a constant schedule)."""
    try:
        trainer = module.trainer
    except RuntimeError:  # a LightningModule not attached to a Trainer
        trainer = None
    steps = int(getattr(trainer, "max_steps", -1) or -1) if trainer is not None else -1
    return steps if steps > 0 else 1


def lightning_scheduler(optimizer: torch.optim.Optimizer, schedule: Mapping[str, Any] | None,
                        max_steps: int) -> dict[str, Any]:
    """Lightning's lr_scheduler config: stepped after every optimizer step, saved in every checkpoint."""
    return {"scheduler": build_scheduler(optimizer, schedule, max_steps), "interval": "step", "frequency": 1}


def step_schedulers(module) -> None:
    """For manual-optimisation stages: step every scheduler once (call after the generator's optimizer step)."""
    schedulers = module.lr_schedulers()
    if schedulers is None:
        return
    for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
        scheduler.step()
