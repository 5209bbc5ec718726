"""Image sets in LMDB, in BasicSR's layout so a lab's existing FFHQ `.lmdb` works as it is.

Layout: an LMDB folder holding `data.mdb`, `lock.mdb` and `meta_info.txt`, whose lines read
`<key>.png (H,W,C) <compression>`; each value is the encoded image file (PNG) stored under `<key>`.
Environments are opened lazily and read-only without locking, once per process, so DataLoader workers
(spawned) each open their own handle.
"""

from __future__ import annotations

import os
from pathlib import Path

from bfrbench.errors import BFRBenchError

REF_SEPARATOR = "::"  # a face reference "<folder>.lmdb::<key>" names one image inside an LMDB set

_ENVS: dict[str, object] = {}


def is_lmdb_dir(path: str | os.PathLike) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "data.mdb").is_file()


def lmdb_keys(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    meta = path / "meta_info.txt"
    if not meta.is_file():
        raise BFRBenchError(f"{path}: LMDB set without meta_info.txt",
                            fix="write it with `bfrbench data lmdb`, or BasicSR's create_lmdb scripts")
    keys = []
    for line in meta.read_text().splitlines():
        if not line.strip():
            continue
        name = line.split()[0]
        keys.append(Path(name).stem)
    if len(set(keys)) != len(keys):
        raise BFRBenchError(f"{meta}: duplicate keys", fix="each image must appear once")
    return keys


def _env(path: str):
    env = _ENVS.get(path)
    if env is None:
        import lmdb

        env = lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False)
        _ENVS[path] = env
    return env


def read_lmdb_bytes(path: str | os.PathLike, key: str) -> bytes:
    with _env(str(path)).begin(write=False) as txn:
        value = txn.get(key.encode("ascii"))
    if value is None:
        raise BFRBenchError(f"{path}: no image under key {key!r}", fix="check meta_info.txt against the database")
    return bytes(value)


def write_lmdb(images: list[tuple[str, bytes, tuple[int, int, int]]], out: str | os.PathLike,
               map_size: int | None = None) -> Path:
    """Write (key, png_bytes, (h, w, c)) entries into a new LMDB set in BasicSR's layout."""
    import lmdb

    out = Path(out)
    out.mkdir(parents=True, exist_ok=False)
    total = sum(len(b) for _, b, _ in images)
    env = lmdb.open(str(out), map_size=map_size or max(1 << 24, total * 2))
    with env.begin(write=True) as txn:
        for key, data, _ in images:
            txn.put(key.encode("ascii"), data)
    env.close()
    lines = [f"{key}.png ({h},{w},{c}) 1" for key, _, (h, w, c) in images]
    (out / "meta_info.txt").write_text("\n".join(lines) + "\n")
    return out
