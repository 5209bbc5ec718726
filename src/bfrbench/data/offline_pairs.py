"""Offline (LQ, HQ) training pairs from a folder (e.g. FLIPNET's degradation-mode output), mixed with online draws.

The paper's "+O/F" training: online naive degradations (O) plus an offline set (F) made once by FLIPNET. The
combined set is addressed by (epoch, index) like `DegradedFaces`, so the suite's deterministic sampler still applies:
indices below len(online) are online draws, the rest are offline pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from bfrbench.data.degradation import STREAM_FLIP, sample_rng
from bfrbench.errors import BFRBenchError


class OfflinePairs(Dataset):
    """`root/lq/*.png` and `root/hq/*.png` paired by file stem (any unpaired name is an error)."""

    def __init__(self, root: str | Path, size: int, seed: int, flip: bool = True):
        from bfrbench.io.pairing import pair_by_stem

        root = Path(root)
        if not (root / "lq").is_dir() or not (root / "hq").is_dir():
            raise BFRBenchError(f"{root}: an offline pair set needs lq/ and hq/ folders",
                                fix="make one with `bfrbench degrade --method flipnet`")
        self.pairs = pair_by_stem(root / "lq", root / "hq")
        if not self.pairs:
            raise BFRBenchError(f"{root}: no pairs found", fix="make one with `bfrbench degrade --method flipnet`")
        self.size, self.seed, self.flip = size, seed, flip

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        from bfrbench.data.tensors import to_tensor
        from bfrbench.io.images import read_image

        epoch, index = key
        _, lq_path, hq_path = self.pairs[index]
        lq, hq = read_image(lq_path, size=self.size), read_image(hq_path, size=self.size)
        # its own flip stream (seed + 2) so it never correlates with the online set's flips
        if self.flip and sample_rng(self.seed + 2, epoch, index, STREAM_FLIP).random() < 0.5:
            lq, hq = np.ascontiguousarray(lq[:, ::-1]), np.ascontiguousarray(hq[:, ::-1])
        return {"lq": to_tensor(lq), "hq": to_tensor(hq), "index": index}


class OnlinePlusOffline(Dataset):
    def __init__(self, online: Dataset, offline: Dataset):
        self.online, self.offline = online, offline

    def __len__(self) -> int:
        return len(self.online) + len(self.offline)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        n = len(self.online)
        item = self.online[(epoch, index)] if index < n else self.offline[(epoch, index - n)]
        return {**item, "index": index}
