"""Content digests that key a run's work folder: the same inputs give the same key on any machine and any day.

Contents, not modification times: DVC checks files out with new time stamps, and a resumed restore must not mix
images made from other inputs or other weights into its output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def _file_digest(path: Path, chunk: int = 1 << 20) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.digest()


def files_digest(named: Iterable[tuple[str, Path]]) -> str:
    """sha256 over (name, content) pairs, in name order."""
    h = hashlib.sha256()
    for name, path in sorted(named, key=lambda pair: pair[0]):
        h.update(name.encode() + b"\0" + _file_digest(Path(path)))
    return h.hexdigest()


def folder_digest(root: Path) -> str:
    """sha256 over every file under `root` (relative names and contents); of nothing when `root` is absent."""
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if root.is_dir() else []
    return files_digest((p.relative_to(root).as_posix(), p) for p in files)


# The code a restored image's bytes can depend on: the methods and the networks, data and image code they use, and
# the restore job itself. Not the CLI, the report, training or the preflight: an edit there must not discard a
# long restore's finished images (their settings are in the key by value).
RESTORE_CODE = ("methods", "archs", "nets", "reference", "data", "io", "metrics", "config.py", "engine/restore_job.py")


def code_digest(parts: tuple[str, ...] = RESTORE_CODE) -> str:
    """sha256 over the Python files of these parts of the bfrbench package (subpackages or files)."""
    package = Path(__file__).resolve().parents[1]
    named = []
    for part in parts:
        path = package / part
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        named += [(p.relative_to(package).as_posix(), p) for p in files if p.is_file()]
    return files_digest(named)[:16]
