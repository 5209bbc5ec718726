"""`unet_l1_of`: `unet_l1` trained on online naive degradations PLUS FLIPNET's offline degraded pairs (the paper's
"+O/F"); `unet_l1` itself is the "+O" row. Same network, loss and schedule: only the training data differ."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from bfrbench.errors import ConfigError
from bfrbench.methods.base import StageContext
from bfrbench.methods.unet_l1 import UNetL1


def folder_fingerprint(root: Path) -> str:
    """sha256 over every file's name and bytes under `root` (the offline pairs change when FLIPNET is retrained)."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:12]


class UNetL1PlusFlipData(UNetL1):
    name = "unet_l1_of"

    def train(self, ctx: StageContext) -> dict[str, Any]:
        extra = (ctx.config.get("data") or {}).get("extra_pairs")
        if not extra:
            raise ConfigError(f"{self.name}/{ctx.stage}: data.extra_pairs is not set",
                              fix="point it at FLIPNET's degraded set, e.g. artifacts/degraded/flipnet")
        if not Path(extra).is_dir():
            raise ConfigError(f"{self.name}/{ctx.stage}: data.extra_pairs {extra}: no such folder",
                              fix="run `bfrbench degrade --method flipnet` first")
        # The resumable work folder is keyed by the config only; key it by the pairs' bytes too, so new FLIPNET data
        # never resumes a checkpoint trained on the old data.
        root = ctx.extras.get("work_root", Path("checkpoints"))
        ctx.extras = {**ctx.extras, "work_root": Path(root) / f"pairs-{folder_fingerprint(Path(extra))}"}
        return super().train(ctx)
