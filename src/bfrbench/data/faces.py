"""The prepared face set (output of the `data` stage): aligned HQ faces with a manifest and an identity split."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from bfrbench.errors import BFRBenchError

SPLITS = ("train", "val", "test", "real_lq")


def read_manifest(faces_dir: str | os.PathLike) -> list[dict[str, str]]:
    faces_dir = Path(faces_dir)
    manifest = faces_dir / "manifest.csv"
    if not manifest.is_file():
        raise BFRBenchError(
            f"{manifest}: no face manifest", fix="run `dvc repro data` (or `bfrbench data prepare`) first"
        )
    with open(manifest, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def face_paths(faces_dir: str | os.PathLike, split: str) -> list[Path]:
    """Image paths of one split, in manifest order (sorted by name when the manifest was written)."""
    if split not in SPLITS:
        raise BFRBenchError(f"unknown split {split!r}", fix=f"use one of {SPLITS}")
    faces_dir = Path(faces_dir)
    rows = [r for r in read_manifest(faces_dir) if r["split"] == split]
    sub = "real_lq" if split == "real_lq" else "hq"
    paths = []
    for r in rows:
        path = Path(r["path"]) if r.get("path") else faces_dir / sub / f"{r['name']}.png"
        paths.append(path)
    return sorted(paths, key=lambda p: p.name)
