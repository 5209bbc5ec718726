"""CodeFormer stage III's schedule by iteration: which fidelity weight w, and whether an iteration trains on the mild
degradation (all losses and a discriminator step) or on the large one (code losses only).

The official trainer (sczhou/CodeFormer `basicsr/models/codeformer_joint_model.py`, optimize_parameters) chooses per
ITERATION, for the whole batch: `current_iter % small_per_n == 0` trains on `in` (mild), else on `in_large_de`. The
config lists the phases in order, each `{until: F, w: W, mild_every: N | phase_end}` where the phase covers the
1-based iterations up to round(F x max_steps); `phase_end` is the official 120000 % 120000 (mild only at the phase's
last iteration). Fractions scale the schedule with `trainer.max_steps`, so a short smoke run passes every phase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bfrbench.errors import ConfigError

KEYS = {"until", "w", "mild_every"}


def check_phases(phases: Sequence[Mapping[str, Any]] | None, where: str) -> list[dict[str, Any]]:
    if not phases:
        raise ConfigError(f"{where}: phases is empty", fix="list at least one phase ending at until: 1.0")
    checked, last = [], 0.0
    for i, phase in enumerate(phases):
        extra, missing = set(phase) - KEYS, KEYS - set(phase)
        if extra or missing:
            raise ConfigError(f"{where}: phases[{i}] has keys {sorted(phase)}", fix=f"use exactly {sorted(KEYS)}")
        until, every = float(phase["until"]), phase["mild_every"]
        if not last < until <= 1.0:
            raise ConfigError(f"{where}: phases[{i}].until {until} must rise, up to 1.0 (a fraction of max_steps)")
        if every != "phase_end" and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ConfigError(f"{where}: phases[{i}].mild_every {every!r}", fix="a whole number >= 1, or phase_end")
        checked.append({"until": until, "w": float(phase["w"]), "mild_every": every})
        last = until
    if last != 1.0:
        raise ConfigError(f"{where}: the last phase ends at until {last}", fix="end the last phase at until: 1.0")
    return checked


def phase_at(phases: Sequence[Mapping[str, Any]] | None, iteration: int, max_steps: int,
             default_w: float) -> tuple[float, bool]:
    """(w, mild) of the 1-based `iteration`; without phases: `default_w` and mild at every iteration."""
    if not phases:
        return default_w, True
    for phase in phases:
        end = max(1, int(round(phase["until"] * max_steps)))
        if iteration <= end:
            every = end if phase["mild_every"] == "phase_end" else int(phase["mild_every"])
            return float(phase["w"]), iteration % every == 0
    return float(phases[-1]["w"]), True  # past max_steps (not reached in a run)
