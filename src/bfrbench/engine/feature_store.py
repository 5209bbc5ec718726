"""Per-image features of one set-level metric, kept by file stem so an interrupted scoring run resumes exactly.

On disk (only while a run is unfinished): `out_dir/.features.<metric>/part_<writer>NNNNNN.npz`, each written
atomically and holding `stems` plus one N x D array per feature kind ("pred", "gt"). `writer` is "" for rank 0 (and a
single process) and "r<k>_" for rank k, so no two ranks write the same file. A batch's part is written BEFORE its rows
are appended to the partial CSV, so every stem the CSV marks as done has its features on disk. `load` reads every
writer's parts in name order and a later part wins for a repeated stem (a batch scored again after a crash between
the two writes: the same features, since a stem is always scored in the same batch).
"""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import numpy as np

from bfrbench.io.atomic import write_bytes_atomic

log = logging.getLogger(__name__)


def feature_dir(out: Path, metric: str) -> Path:
    return out / f".features.{metric}"


class FeatureStore:
    def __init__(self, out: Path | None, metric: str, kinds: tuple[str, ...], writer: str = ""):
        self.dir = feature_dir(out, metric) if out is not None else None
        self.kinds = tuple(kinds)
        self.writer = writer
        self.features: dict[str, dict[str, np.ndarray]] = {}
        self._next: int | None = None  # this writer's next part number, found on disk at its first write

    def _parts(self) -> list[Path]:
        if self.dir is None or not self.dir.is_dir():
            return []
        return sorted(self.dir.glob("part_*.npz"))

    def _own_numbers(self) -> list[int]:
        numbers = []
        for part in self._parts():
            rest = part.stem[len("part_"):]
            if rest.startswith(self.writer) and rest[len(self.writer):].isdigit():
                numbers.append(int(rest[len(self.writer):]))
        return numbers

    def load(self) -> None:
        for part in self._parts():
            try:
                with np.load(part, allow_pickle=False) as data:
                    stems = [str(s) for s in data["stems"]]
                    arrays = {k: np.asarray(data[k]) for k in self.kinds}
            except Exception as exc:  # noqa: BLE001 - an unreadable part only means those stems are scored again
                log.warning("%s: unreadable (%s); its images will be scored again", part, exc)
                continue
            if any(len(a) != len(stems) for a in arrays.values()):
                log.warning("%s: inconsistent lengths; its images will be scored again", part)
                continue
            for i, stem in enumerate(stems):
                self.features[stem] = {k: arrays[k][i] for k in self.kinds}

    def keep_only(self, stems: set[str]) -> None:
        """Forget every stem not in `stems`, and leave one part on disk holding exactly the rest."""
        self.features = {s: v for s, v in self.features.items() if s in stems}
        old = self._parts()
        if self.features:
            self._write(self.features)
        for part in old:
            part.unlink(missing_ok=True)

    def add(self, new: dict[str, dict[str, np.ndarray]]) -> None:
        if new and self.dir is not None:
            self._write(new)
        self.features.update(new)

    def _write(self, rows: dict[str, dict[str, np.ndarray]]) -> None:
        if self.dir is None:
            return
        if self._next is None:
            self._next = max(self._own_numbers(), default=-1) + 1
        stems = sorted(rows)
        buf = io.BytesIO()
        np.savez(buf, stems=np.array(stems), **{k: np.stack([rows[s][k] for s in stems]) for k in self.kinds})
        write_bytes_atomic(self.dir / f"part_{self.writer}{self._next:06d}.npz", buf.getvalue())
        self._next += 1

    def has(self, stem: str) -> bool:
        return stem in self.features

    def stacked(self, stems: list[str]) -> dict[str, np.ndarray]:
        return {k: np.stack([self.features[s][k] for s in stems]) for k in self.kinds}

    def remove(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
