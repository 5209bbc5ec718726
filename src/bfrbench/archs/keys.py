"""Compare tensor names and shapes of two state dicts (our network vs an official checkpoint or its manifest)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def shapes(state_dict: Mapping[str, Any]) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in state_dict.items()}


def key_diff(ours: Mapping[str, list[int]], reference: Mapping[str, list[int]]) -> dict[str, list]:
    """Missing / unexpected names and shape mismatches; all empty when `reference` loads into ours with strict=True."""
    return {
        "missing": sorted(set(reference) - set(ours)),
        "unexpected": sorted(set(ours) - set(reference)),
        "shape": sorted((k, list(reference[k]), list(ours[k])) for k in set(ours) & set(reference)
                        if list(reference[k]) != list(ours[k])),
    }


def describe(diff: Mapping[str, list], limit: int = 5) -> str:
    parts = [f"{len(v)} {k} (e.g. {v[:limit]})" for k, v in diff.items() if v]
    return "; ".join(parts) or "identical"
