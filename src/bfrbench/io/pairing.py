"""Pair restored images with ground truth by file stem, never by sorted position.

The field's shared scripts pair files by sorted glob, which silently mis-pairs when one file is missing or named
differently. Here every stem must appear exactly once on each side.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from bfrbench.errors import PairingError
from bfrbench.io.images import list_images


def index_by_stem(folder: str | os.PathLike) -> dict[str, Path]:
    """Map stem -> image path; two files with the same stem (e.g. a.png and a.jpg) are an error."""
    by_stem: dict[str, list[Path]] = defaultdict(list)
    for path in list_images(folder):
        by_stem[path.stem].append(path)
    dups = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
    if dups:
        stem, paths = sorted(dups.items())[0]
        names = ", ".join(p.name for p in paths)
        raise PairingError(
            f"{folder}: {len(dups)} duplicate image name(s), e.g. '{stem}' is {names}",
            fix="keep one file per name (stem) in the folder",
        )
    return {stem: paths[0] for stem, paths in by_stem.items()}


def pair_by_stem(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike) -> list[tuple[str, Path, Path]]:
    """Return (stem, pred_path, gt_path) for every stem, sorted by stem; fail on any unpaired file."""
    pred = index_by_stem(pred_dir)
    gt = index_by_stem(gt_dir)
    if not pred:
        raise PairingError(f"{pred_dir}: no images found", fix="point --pred at the folder of restored images")
    if not gt:
        raise PairingError(f"{gt_dir}: no images found", fix="point --gt at the folder of ground-truth images")
    only_pred = sorted(set(pred) - set(gt))
    only_gt = sorted(set(gt) - set(pred))
    if only_pred or only_gt:
        parts = []
        if only_pred:
            parts.append(f"{len(only_pred)} in {pred_dir} have no ground truth (e.g. {pred[only_pred[0]].name})")
        if only_gt:
            parts.append(f"{len(only_gt)} in {gt_dir} have no prediction (e.g. {gt[only_gt[0]].name})")
        raise PairingError(
            "unpaired images: " + "; ".join(parts),
            fix="name each restored image like its ground truth (same stem), and restore every test image",
        )
    return [(stem, pred[stem], gt[stem]) for stem in sorted(pred)]
