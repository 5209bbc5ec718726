"""Plumbing shared by the baselines that can run from official weights or from suite-trained stages.

`weights: auto` (default) uses the official weights when their verified file is present and trains otherwise;
`official` requires them; `suite` always trains. The choice is made by the train stage and written to its model
card (`source`), and the restorer follows the card, so the report says which of the two produced each row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.errors import BFRBenchError, ConfigError

OFFICIAL = "official weights"


def use_official(mode: str, assets: tuple[str, ...], where: str) -> tuple[bool, str | None]:
    """(use the official weights?, why not) for weights mode `mode` and the registry entries it needs."""
    from bfrbench.weights import weights_reason

    if mode not in ("auto", "official", "suite"):
        raise ConfigError(f"{where}.weights: {mode!r}", fix="use auto, official or suite")
    if mode == "suite":
        return False, "weights: suite"
    reasons = [r for r in (weights_reason(a) for a in assets) if r]
    if not reasons:
        return True, None
    if mode == "official":
        raise BFRBenchError(f"{where}: official weights requested but {reasons[0]}",
                            fix="fetch them or use weights: auto")
    return False, reasons[0]


def official_card(method: str, stage: str, assets: tuple[str, ...], cfg: Mapping[str, Any]) -> dict[str, Any]:
    from bfrbench.weights import get_asset, weights_path

    # the file's name and sha256, not its absolute path: the card is hashed by DVC and must not depend on the machine
    files = {a: {"file": weights_path(a).name, "url": get_asset(a).urls[0], "sha256": get_asset(a).sha256}
             for a in assets}
    names = ", ".join(get_asset(a).filename for a in assets)
    return {"method": method, "stage": stage, "source": f"{OFFICIAL} ({names}), not trained", "official": files,
            "config": dict(cfg)}


def card_is_official(card: Mapping[str, Any]) -> bool:
    return str(card.get("source", "")).startswith(OFFICIAL)


def trained_file(path: Path, method: str, stage: str) -> Path:
    """`path`, a file that training stage `stage` of `method` writes; a clear error when it has not run."""
    path = Path(path)
    if not path.is_file():
        raise BFRBenchError(f"{path}: {method} stage {stage!r} has not been trained",
                            fix=f"run `dvc repro train@{method}-{stage}` (or `bfrbench train {method} {stage} ...`)")
    return path


def load_stage_blob(models_dir: Path, stage: str, method: str, file: str = "model.pt") -> dict[str, Any]:
    import torch

    path = trained_file(Path(models_dir) / stage / file, method, stage)
    return torch.load(path, map_location="cpu", weights_only=True)


def unwrap_state(blob: Any, key: str | None) -> dict:
    """An official checkpoint's state dict: under `key` (e.g. params_ema) or 'state_dict', 'module.' stripped."""
    if key and isinstance(blob, dict) and key in blob:
        blob = blob[key]
    elif isinstance(blob, dict) and "state_dict" in blob:
        blob = blob["state_dict"]
    return {(k[7:] if k.startswith("module.") else k): v for k, v in blob.items()}


def resize_batch(x, size: int):
    """Bicubic (antialiased) resize of an N x C x H x W batch to size x size; identity when already there."""
    from torch.nn import functional as F

    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)


def image_seed(seed: int, img: np.ndarray) -> int:
    """A per-image seed from the run seed and the image bytes: noise independent of batch order and size."""
    digest = hashlib.sha256(np.ascontiguousarray(img).tobytes()).digest()
    return (int.from_bytes(digest[:8], "little") ^ int(seed)) & ((1 << 63) - 1)
