"""Strict image reading and atomic image writing.

Every image entering the suite passes through `read_image`: it names the file in every error and says how to fix it.
The in-memory convention is RGB, uint8, HxWx3, the convention of the field's evaluation scripts (8-bit PNG/JPEG).

Conversions are never silent. With `convert=True` (CLI: `--convert-images`) these documented conversions apply:
gray -> RGB by channel replication; RGBA/LA -> RGB by compositing on white (only if `convert=True`);
16-bit -> 8-bit by round(x / 257), the exact inverse of 8-bit -> 16-bit scaling.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bfrbench.errors import ImageError
from bfrbench.io.atomic import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_CONVERT_HINT = "re-save it as 8-bit RGB (PNG or JPEG), or pass --convert-images to apply the documented conversion"


def is_image_name(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside `folder`, sorted by name. Hidden files are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder} is not a folder", fix="give the path of a folder that holds the images")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and is_image_name(p))


def _looks_truncated(data: bytes, suffix: str) -> bool:
    # OpenCV decodes truncated JPEG/PNG files with only a warning on stderr; check the end markers ourselves.
    if suffix in (".jpg", ".jpeg"):
        return b"\xff\xd9" not in data[-1024:]
    if suffix == ".png":
        return b"IEND" not in data[-64:]
    return False


def decode_image(data: bytes, name: str | os.PathLike, convert: bool = False) -> np.ndarray:
    """Decode bytes of an image file to RGB uint8 HxWx3; `name` is used in error messages."""
    import cv2

    suffix = Path(name).suffix.lower()
    if not data:
        raise ImageError(f"{name}: the file is empty", fix="replace it with the real image or remove it")
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageError(
            f"{name}: not a readable image (corrupt, or not an image file)",
            fix="replace or remove the file; only PNG, JPEG, BMP, WebP and TIFF images are read",
        )
    if _looks_truncated(data, suffix):
        raise ImageError(f"{name}: the image file is truncated", fix="re-copy or re-encode the file")
    if arr.dtype == np.uint16:
        if not convert:
            raise ImageError(f"{name}: 16-bit image (8-bit expected)", fix=_CONVERT_HINT)
        arr = np.round(arr.astype(np.float64) / 257.0).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise ImageError(f"{name}: unsupported pixel type {arr.dtype} (8-bit expected)", fix=_CONVERT_HINT)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        if not convert:
            raise ImageError(f"{name}: grayscale image (RGB expected)", fix=_CONVERT_HINT)
        arr = arr.reshape(arr.shape[0], arr.shape[1])
        return np.ascontiguousarray(np.stack([arr] * 3, axis=-1))
    channels = arr.shape[2]
    if channels == 4:
        if not convert:
            raise ImageError(f"{name}: image with an alpha channel (RGBA; RGB expected)", fix=_CONVERT_HINT)
        arr = composite_on_white(cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA))
        return arr
    if channels != 3:
        raise ImageError(f"{name}: {channels}-channel image (RGB expected)", fix=_CONVERT_HINT)
    return np.ascontiguousarray(arr[:, :, ::-1])


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Alpha-composite an RGBA uint8 image onto a white background."""
    rgb = rgba[..., :3].astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    out = rgb * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def read_image(path: str | os.PathLike, convert: bool = False, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """Read an image as RGB uint8 HxWx3; if `size` is given, the image must be exactly that size (H, W)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file", fix="check the path") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image file", fix="remove the folder or rename it") from None
    arr = decode_image(data, path, convert=convert)
    if size is not None:
        want = (size, size) if isinstance(size, int) else tuple(size)
        if arr.shape[:2] != want:
            raise ImageError(
                f"{path}: image is {arr.shape[1]}x{arr.shape[0]} (WxH), expected {want[1]}x{want[0]}",
                fix="resize or re-align it to the expected size, or set the matching size in params.yaml",
            )
    return arr


def encode_png(rgb: np.ndarray) -> bytes:
    import cv2

    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"encode_png expects RGB uint8 HxWx3, got {rgb.dtype} {rgb.shape}")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image atomically; the format follows the suffix (PNG is lossless)."""
    import cv2

    path = Path(path)
    if path.suffix.lower() == ".png":
        data = encode_png(rgb)
    else:
        ok, buf = cv2.imencode(path.suffix.lower(), np.ascontiguousarray(rgb[:, :, ::-1]))
        if not ok:
            raise RuntimeError(f"encoding {path} failed")
        data = buf.tobytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
