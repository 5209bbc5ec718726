"""Small sample grids for MLflow: rows of faces, one column per image kind (LQ | output | HQ), a label strip on top.

Shared by the training stages (a grid of validation faces at every validation, bfrbench.training.sample_grid) and
the restore stage (the first faces of a test set). Pure numpy + OpenCV, RGB uint8 H x W x 3 in and out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PAD = 2  # white pixels between tiles and around the grid
LABEL_HEIGHT = 20  # the label strip above the columns (0 without labels)
BACKGROUND = 255


def _fit(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    """`tile` at height x width: nearest-neighbour when enlarging (a small LQ face shows its pixels), area when
    shrinking."""
    if tile.shape[:2] == (height, width):
        return tile
    import cv2

    shrink = tile.shape[0] > height or tile.shape[1] > width
    return cv2.resize(tile, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_NEAREST)


def _label_strip(text: str, width: int) -> np.ndarray:
    import cv2

    strip = np.full((LABEL_HEIGHT, width, 3), BACKGROUND, np.uint8)
    scale = 0.45
    while True:
        (text_w, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        if text_w <= width - 4 or scale <= 0.2:
            break
        scale -= 0.05
    cv2.putText(strip, text, (max(2, (width - text_w) // 2), LABEL_HEIGHT - 6), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def tile_size(rows: Sequence[Sequence[np.ndarray]], max_tile: int | None = None) -> tuple[int, int]:
    """(height, width) of every tile: the largest tile's, scaled down so that neither side exceeds `max_tile`."""
    height = max(t.shape[0] for row in rows for t in row)
    width = max(t.shape[1] for row in rows for t in row)
    if max_tile and max(height, width) > max_tile:
        scale = max_tile / max(height, width)
        height, width = max(1, round(height * scale)), max(1, round(width * scale))
    return height, width


def image_grid(rows: Sequence[Sequence[np.ndarray]], labels: Sequence[str] | None = None, pad: int = PAD,
               max_tile: int | None = None) -> np.ndarray:
    """One row per face, the same number of tiles in each; every tile is resized to one size (`tile_size`).

    Result: (LABEL_HEIGHT if labels else 0) + n_rows * tile_h + (n_rows + 1) * pad high,
    n_cols * tile_w + (n_cols + 1) * pad wide."""
    if not rows or not rows[0]:
        raise ValueError("image_grid needs at least one row of at least one image")
    n_cols = len(rows[0])
    for row in rows:
        if len(row) != n_cols:
            raise ValueError(f"image_grid: rows of {len(row)} and {n_cols} images")
        for tile in row:
            if tile.dtype != np.uint8 or tile.ndim != 3 or tile.shape[2] != 3:
                raise ValueError(f"image_grid expects RGB uint8 H x W x 3 tiles, got {tile.dtype} {tile.shape}")
    if labels is not None and len(labels) != n_cols:
        raise ValueError(f"image_grid: {len(labels)} labels for {n_cols} columns")
    th, tw = tile_size(rows, max_tile)
    top = LABEL_HEIGHT if labels is not None else 0
    grid = np.full((top + len(rows) * th + (len(rows) + 1) * pad, n_cols * tw + (n_cols + 1) * pad, 3), BACKGROUND,
                   np.uint8)
    for c in range(n_cols):
        x = pad + c * (tw + pad)
        if labels is not None:
            grid[:top, x:x + tw] = _label_strip(str(labels[c]), tw)
        for r, row in enumerate(rows):
            y = top + pad + r * (th + pad)
            grid[y:y + th, x:x + tw] = _fit(row[c], th, tw)
    return grid
