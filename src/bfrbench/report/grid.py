"""Image grids for the report: one row per face, columns LQ | each method | GT, with a label strip on top."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _label(text: str, width: int, height: int = 22) -> np.ndarray:
    import cv2

    strip = np.full((height, width, 3), 255, dtype=np.uint8)
    scale = 0.4
    (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    while tw > width - 4 and scale > 0.2:
        scale -= 0.05
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.putText(strip, text, (max(2, (width - tw) // 2), height - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                cv2.LINE_AA)
    return strip


def make_grid(columns: list[tuple[str, Path]], stems: list[str], size: int, pad: int = 2) -> np.ndarray:
    """`columns` = [(label, folder)]; a face missing from a folder is drawn gray."""
    from bfrbench.io.images import read_image

    rows = []
    header = []
    for label, _ in columns:
        header.append(_label(label, size))
        header.append(np.full((22, pad, 3), 255, np.uint8))
    rows.append(np.concatenate(header, axis=1))
    for stem in stems:
        tiles = []
        for _, folder in columns:
            path = Path(folder) / f"{stem}.png"
            tile = read_image(path) if path.is_file() else np.full((size, size, 3), 128, np.uint8)
            if tile.shape[:2] != (size, size):
                import cv2

                tile = cv2.resize(tile, (size, size), interpolation=cv2.INTER_AREA)
            tiles.append(tile)
            tiles.append(np.full((size, pad, 3), 255, np.uint8))
        rows.append(np.concatenate(tiles, axis=1))
        rows.append(np.full((pad, rows[-1].shape[1], 3), 255, np.uint8))
    return np.concatenate(rows, axis=0)
