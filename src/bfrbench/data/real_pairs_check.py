"""`bfrbench data real-pairs`: check the real degradation pair sets a FLIPNET config names before a week of training.

Reads each set's layout (bfrbench.data.real_pairs: pairing by the dataset's own names), decodes every image, checks
that each pair's two images have one size, and counts the pairs per set. The counts of the standard training splits
(docs/datasets.md) are printed beside them; a different count is reported, not refused: which subsets the paper used
is not public."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# the standard training splits' pair counts (docs/datasets.md), by set name in experiments/flipnet/diffusion_paper.yaml
STANDARD_COUNTS = {"dense_haze": 55, "lol": 485, "sidd": 160, "realblur_j": 3758}


def check_real_pairs(specs: Sequence[Mapping[str, Any]], progress: bool = True) -> list[dict[str, Any]]:
    """One row per set: name, kind, root, pairs, standard count (or None); raises on the first bad file."""
    from tqdm import tqdm

    from bfrbench.data.real_pairs import read_sets
    from bfrbench.errors import BFRBenchError
    from bfrbench.io.images import read_image

    rows = []
    for spec, pairs in zip(specs, read_sets(specs)):
        for pair in tqdm(pairs, desc=f"check {spec['name']}", unit="pair", disable=not progress):
            lq, hq = read_image(pair.lq), read_image(pair.hq)
            if lq.shape != hq.shape:
                raise BFRBenchError(f"{pair.lq} is {lq.shape[1]}x{lq.shape[0]}, its clean partner {pair.hq} is "
                                    f"{hq.shape[1]}x{hq.shape[0]}", fix="a pair's two images must have one size")
        rows.append({"name": spec["name"], "kind": spec["kind"], "root": str(spec["root"]), "pairs": len(pairs),
                     "standard": STANDARD_COUNTS.get(str(spec["name"]))})
    return rows
