"""Helpers for the methods' `preflight_config` / `preflight_sampling` hooks (bfrbench preflight).

A hook changes a stage config only where the machine cannot have what it names (absent weights -> the same
architecture with random init), or where the size the preflight runs at fixes an architecture setting, and says so.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bfrbench.methods.base import PreflightConfig


def effective(method, stage: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The config as the stage runner will see it (merged over the method's defaults)."""
    from bfrbench.training.stage import merged_config

    return merged_config(method, stage, cfg, f"{method.name}/{stage} (preflight)")


def set_key(cfg: dict[str, Any], path: str, value: Any) -> None:
    node = cfg
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def start(cfg: Mapping[str, Any]) -> PreflightConfig:
    return PreflightConfig(copy.deepcopy(dict(cfg)))


def fewer_steps(block: Mapping[str, Any], defaults: Mapping[str, Any], key: str, steps: int = 2) -> PreflightConfig:
    """A restore-time block with at most `steps` sampler steps under `key`: the preflight's restore proves that the
    restorer loads the stage outputs and runs, and the sampling time is not projected."""
    change = start(block)
    current = int({**defaults, **block}[key])
    if current > steps:
        change.config[key] = steps
        change.notes.append(f"sampling {key} {current} -> {steps} (restore proves the restorer runs; its time is "
                            f"not projected)")
    return change
