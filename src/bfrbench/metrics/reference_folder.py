"""A user-given folder of reference images (e.g. FFHQ) as pytorch-fid reads it, and its Inception features, cached.

Used by `fid_folder` and `kid_folder` (the CodeFormer author's FID: "we use FFHQ as our reference dataset ... use the
pytorch_fid toolbox", sczhou/CodeFormer issue #41). pytorch-fid 0.3.0's `compute_statistics_of_path` defines the
reference set, and this module follows it:
- files: directly inside the folder (no subfolders), whose extension is one of pytorch-fid's IMAGE_EXTENSIONS
  (bmp, jpg, jpeg, pgm, png, ppm, tif, tiff, webp), matched case-sensitively as its `Path.glob('*.ext')` does on
  Linux (FACE.PNG is left out, as pytorch-fid leaves it out); sorted by path;
- decoding: PIL `Image.open(path).convert('RGB')` (gray and palette images become RGB; an alpha channel is dropped);
- features: the FID Inception pool3 in pytorch-fid's input convention (`bfrbench.metrics.inception`, "pytorch_fid":
  x/255, bilinear 299, 2x-1), exactly the features `fid_gt` computes for the restored and ground-truth images.

Identity of the folder: the sha256 of its sorted file list, one line "<name>\\0<size in bytes>\\n" per file (NAMES
AND SIZES, not contents: hashing 70,000 FFHQ PNGs on every run would cost minutes; a file rewritten in place with the
same size is not noticed, so replace a reference folder by a new folder, or delete the cache entry).
Cache: `<cache>/reference_features/<convention>-<inception sha256[:12]>-<list sha256[:32]>.npz` holding the N x 2048
float32 features (~8 KiB per image: 70,000 FFHQ images ~ 0.57 GB) and the list hash; a cached file whose list hash
or shape does not match is ignored and recomputed. The features are computed with one torch thread, the thread count
the scoring engine uses for the restored images' features (engine.devices.CPU_THREADS), so that both sides of the
distance come from the same kernels.
"""

from __future__ import annotations

import hashlib
import io
import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bfrbench.errors import BFRBenchError, ImageError

log = logging.getLogger(__name__)

HASHED = "names and sizes"
_BATCH = 32
_LOG_EVERY = 2000


def pytorch_fid_extensions() -> frozenset[str]:
    # Taken from the pinned package itself, so the selection cannot drift from the pytorch-fid it follows.
    from pytorch_fid.fid_score import IMAGE_EXTENSIONS

    return frozenset(IMAGE_EXTENSIONS)


def list_reference_images(folder: Path) -> list[Path]:
    """The files pytorch-fid would read from `folder`, sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder} is not a folder", fix="point reference_dir at a folder of reference images")
    extensions = pytorch_fid_extensions()
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix[1:] in extensions)


def file_list_sha256(files: list[Path]) -> str:
    """sha256 of the sorted list of (name, size) lines: the folder's identity (names and sizes, not contents)."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        digest.update(f"{path.name}\0{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def read_like_pytorch_fid(path: Path) -> np.ndarray:
    """RGB uint8 H x W x 3 as pytorch-fid's ImagePathDataset decodes it (PIL, convert('RGB'))."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})", fix="remove or replace it") from None


@contextmanager
def _one_thread():
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def compute_features(net, files: list[Path], convention: str, device: str = "cpu") -> np.ndarray:
    """N x 2048 float32 features of `files` in order; consecutive images of one size go through in one batch."""
    from bfrbench.metrics.inception import FEATURE_DIM, inception_features

    out = np.empty((len(files), FEATURE_DIM), np.float32)
    with _one_thread():
        start = 0
        while start < len(files):
            batch = [read_like_pytorch_fid(files[start])]
            while len(batch) < _BATCH and start + len(batch) < len(files):
                image = read_like_pytorch_fid(files[start + len(batch)])
                if image.shape != batch[0].shape:
                    break
                batch.append(image)
            out[start : start + len(batch)] = inception_features(net, np.stack(batch), convention, device)
            start += len(batch)
            if start // _LOG_EVERY != (start - len(batch)) // _LOG_EVERY:
                log.info("reference features: %d of %d images", start, len(files))
    return out


class ReferenceFolder:
    """A reference folder's file list, identity and (lazily, cached) Inception features."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._files: list[Path] | None = None
        self._sha256: str | None = None

    @property
    def files(self) -> list[Path]:
        if self._files is None:
            self._files = list_reference_images(self.folder)
        return self._files

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = file_list_sha256(self.files)
        return self._sha256

    def record(self) -> dict:
        """What a result says about its reference: where, how many images, which ones (hash and what it covers)."""
        return {"reference": relative_path(self.folder), "n_reference": len(self.files),
                "reference_files_sha256": self.sha256, "reference_files_hashed": HASHED}

    def cache_path(self, convention: str, network_sha256: str) -> Path:
        from bfrbench.assets import cache_dir

        return cache_dir() / "reference_features" / f"{convention}-{network_sha256[:12]}-{self.sha256[:32]}.npz"

    def features(self, net, convention: str, network_sha256: str, device: str = "cpu") -> np.ndarray:
        path = self.cache_path(convention, network_sha256)
        cached = _load(path, self.sha256, len(self.files))
        if cached is not None:
            return cached
        if len(self.files) < 2:
            raise BFRBenchError(f"{self.folder}: {len(self.files)} reference image(s) that pytorch-fid would read; "
                                "a covariance needs at least 2",
                                fix="point reference_dir at a folder of images (png, jpg, ...; not in subfolders)")
        log.info("%s: computing Inception features of %d reference images (cached in %s)",
                 self.folder, len(self.files), path)
        features = compute_features(net, self.files, convention, device)
        from bfrbench.io.atomic import write_bytes_atomic

        buf = io.BytesIO()
        np.savez(buf, features=features, files_sha256=np.array(self.sha256))
        write_bytes_atomic(path, buf.getvalue())
        return features


def _load(path: Path, sha256: str, count: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            features, stored = np.asarray(data["features"]), str(data["files_sha256"])
    except Exception as exc:  # noqa: BLE001 - an unreadable cache entry is only recomputed
        log.warning("%s: unreadable (%s); recomputing the reference features", path, exc)
        return None
    if stored != sha256 or features.ndim != 2 or features.shape[0] != count:
        log.warning("%s: does not belong to this file list; recomputing the reference features", path)
        return None
    return features


def relative_path(path: Path) -> str:
    """A folder as the score summary records folders: relative to the working directory when inside it (a DVC
    output then holds no absolute path), else absolute."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(resolved)
