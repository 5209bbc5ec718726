"""Rows that reuse another method's models with other inference settings (ablations, CodeFormer's w=1).

Their one stage, `link` (dvc.yaml's `link` group), writes a card with the sha256 of every model it uses, so DVC
re-runs the row's restores exactly when those models change; loading refuses a link whose models changed since.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bfrbench.errors import BFRBenchError
from bfrbench.methods.base import read_card


def stage_sha256(stage_dir: Path, method: str) -> str:
    """What a stage produced: its model.pt, or its card when it points at official weights (no model.pt)."""
    from bfrbench.assets import sha256_file

    for name in ("model.pt", "card.json"):
        if (stage_dir / name).is_file():
            return sha256_file(stage_dir / name)
    raise BFRBenchError(f"{stage_dir}: nothing to link (no model.pt or card.json)",
                        fix=f"run `dvc repro train@{method}-{stage_dir.name}`")


def models_sha256(used: Path, method: str, stages: Iterable[str]) -> dict[str, str]:
    return {stage: stage_sha256(used / stage, method) for stage in stages}


def verified_link(models_dir: Path, name: str) -> tuple[dict[str, Any], Path]:
    """(the link card, the used method's models folder), after checking that those models are still the same."""
    models_dir = Path(models_dir)
    card = read_card(models_dir / "link")
    if not card:
        raise BFRBenchError(f"{models_dir / 'link'}: no link card", fix=f"run `dvc repro link@{name}`")
    used = models_dir.parent / card["uses"]
    for stage, sha in card["models_sha256"].items():
        if stage_sha256(used / stage, card["uses"]) != sha:
            raise BFRBenchError(f"{used / stage}: changed since {name}'s link was made",
                                fix=f"run `dvc repro link@{name}`")
    return card, used
