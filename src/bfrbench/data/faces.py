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


class LmdbFaceRef(str):
    """`<set>.lmdb::<key>`: behaves like a path where the pipeline needs one (`.stem`, `.name`)."""

    @property
    def stem(self) -> str:
        return self.split("::", 1)[1]

    @property
    def name(self) -> str:
        return f"{self.stem}.png"


def read_face(ref: str | os.PathLike, size: int | None = None, convert: bool = False):
    """Read one face by reference: a file path, or `<set>.lmdb::<key>` for an image inside an LMDB set."""
    from bfrbench.io.images import decode_image, read_image
    from bfrbench.io.lmdb_store import REF_SEPARATOR, read_lmdb_bytes

    ref = str(ref)
    if REF_SEPARATOR not in ref:
        return read_image(ref, convert=convert, size=size)
    db, key = ref.split(REF_SEPARATOR, 1)
    img = decode_image(read_lmdb_bytes(db, key), ref, convert=convert)
    if size is not None and img.shape[:2] != (size, size):
        raise BFRBenchError(f"{ref}: image is {img.shape[1]}x{img.shape[0]}, expected {size}x{size}",
                            fix="rebuild the LMDB set at the profile's size, or set the matching size")
    return img


def face_paths(faces_dir: str | os.PathLike, split: str) -> list[Path | LmdbFaceRef]:
    """Image paths of one split, in manifest order (sorted by name when the manifest was written)."""
    if split not in SPLITS:
        raise BFRBenchError(f"unknown split {split!r}", fix=f"use one of {SPLITS}")
    faces_dir = Path(faces_dir)
    rows = [r for r in read_manifest(faces_dir) if r["split"] == split]
    sub = "real_lq" if split == "real_lq" else "hq"
    refs = []
    for r in rows:
        ref = r["path"] if r.get("path") else faces_dir / sub / f"{r['name']}.png"
        refs.append((r["name"], Path(ref) if "::" not in str(ref) else LmdbFaceRef(ref)))
    return [ref for _, ref in sorted(refs, key=lambda nr: nr[0])]
