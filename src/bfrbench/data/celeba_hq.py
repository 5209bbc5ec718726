"""CelebA-HQ at 512 px, made the way DifFace makes it (the HQ folder of its journal test grid).

Reproduces DifFace's `scripts/big2small_face.py` (github.com/zsyOAOA/DifFace, last changed in commit
c0fad1da42e526528be9708b8b06e68c287e0c46; unchanged at 5c9ab801b2872544b221d4bfdeead7d430af4ed2), which DifFace's
README runs on the 1024 px faces before `scripts/prepare_testing_restoration.py` builds the grid from the result:

- interpolation: the script resizes with albumentations' `SmallestMaxSize(max_size=512)` and its default
  interpolation, which is `cv2.resize(rgb, (512, 512), interpolation=cv2.INTER_LINEAR)` for a 1024x1024 image (for
  this exact halving OpenCV computes the rounded mean of each 2x2 block);
- names: each source becomes `<source stem>.png`, written by OpenCV with its default PNG settings (the script's
  `util_image.imwrite` is `cv2.imwrite`), so the grid later takes the faces in the same sorted-name order;
- order: sources in sorted name order, the order of the script's `sorted(Path(...).glob(...))`.

Differences, on purpose: the script reads only `*.<ext>` (default png) and writes into `<save_dir>/images512x512/`;
here every image file in the source folder is read (two with the same stem would write the same PNG: an error) and
the output folder is the one given, built in a temporary folder and renamed into place, with a `manifest.csv`
(name, source, sha256 of the PNG). A source that is not 1024x1024 is refused: CelebA-HQ has no other size, and the
script would turn a non-square image into a non-square face.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.errors import ImageError

SOURCE_SIZE = 1024
TARGET_SIZE = 512
MANIFEST_NAME = "manifest.csv"
_SOURCE_HINT = "point --src at the 1024x1024 CelebA-HQ images (e.g. CelebAMask-HQ's CelebA-HQ-img/) and nothing else"


def halve_face(rgb: np.ndarray) -> np.ndarray:
    """The 512 px face of a 1024 px RGB face, with DifFace's interpolation (see the module docstring)."""
    import cv2

    return cv2.resize(rgb, (TARGET_SIZE, TARGET_SIZE), interpolation=cv2.INTER_LINEAR)


def _manifest_text(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["name", "source", "sha256"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def make_celeba_hq512(src: str | Path, out: str | Path, overwrite: bool = False,
                      progress: bool = True) -> dict[str, Any]:
    """Write `out/<stem>.png` at 512 px for every 1024 px image in `src`, and `out/manifest.csv`.

    Every source is checked before its face is written; any bad one stops the run naming it, and `out` is then left
    as it was (the folder is built beside it and renamed only at the end).
    """
    from tqdm.auto import tqdm

    from bfrbench.io.atomic import atomic_dir, check_can_write
    from bfrbench.io.images import decode_image, encode_png, list_images
    from bfrbench.io.pairing import index_by_stem

    src, out = Path(src), Path(out)
    check_can_write(out, overwrite)  # before reading thousands of images, not after
    index_by_stem(src)  # duplicate stems would write the same PNG twice
    sources = list_images(src)
    if not sources:
        raise ImageError(f"{src}: no images found", fix=_SOURCE_HINT)
    rows = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for path in tqdm(sources, desc="celeba-hq512", disable=not progress):
            rgb = decode_image(path.read_bytes(), path)
            height, width = rgb.shape[:2]
            if (height, width) != (SOURCE_SIZE, SOURCE_SIZE):
                raise ImageError(f"{path}: image is {width}x{height} (WxH), CelebA-HQ images are "
                                 f"{SOURCE_SIZE}x{SOURCE_SIZE}", fix=_SOURCE_HINT)
            png = encode_png(halve_face(rgb))
            name = f"{path.stem}.png"
            (tmp / name).write_bytes(png)
            rows.append({"name": name, "source": path.name, "sha256": hashlib.sha256(png).hexdigest()})
        (tmp / MANIFEST_NAME).write_text(_manifest_text(rows), encoding="utf-8")
    return {"count": len(rows), "out": str(out), "manifest": str(out / MANIFEST_NAME)}
