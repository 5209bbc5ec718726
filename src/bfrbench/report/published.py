"""Published CelebA-Test numbers, quoted beside the suite's own rows (never mixed into its tables or bolding).

Source: the DifFace journal version's CelebA-Test table, a secondary source (copied from the paper's table, not
recomputed), transcribed with its protocol in docs/metrics.md ("Published numbers quoted in the leaderboard"). Their
protocols differ from the suite's columns: FID against the ground-truth set (pytorch-fid), LPIPS with AlexNet,
PSNR/SSIM by pyiqa on RGB, IDS = ArcFace angle in degrees (VQFR script), LMD = FAN landmarks in pixels at 512.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

DOC = "docs/metrics.md"  # where the quoted table and its protocol are transcribed (a file in this repository)
SOURCE = ("DifFace journal version (Yue & Loy, TPAMI 2024), CelebA-Test table; secondary source, transcribed in "
          f"{DOC}")
PROTOCOL = ("PSNR/SSIM pyiqa RGB; LPIPS AlexNet; IDS ArcFace angle (deg, VQFR script); LMD FAN 98-pt px at 512; "
            "FID vs the ground-truth set (pytorch-fid)")
COLUMNS = ("PSNR ↑", "SSIM ↑", "LPIPS ↓", "IDS (deg) ↓", "LMD ↓", "FID ↓")
# method as published -> (the suite method that reproduces it, or None; its numbers)
CELEBA_TEST: dict[str, tuple[str | None, tuple[float, ...]]] = {
    "DifFace": ("difface", (23.44, 0.690, 0.461, 64.94, 6.06, 20.29)),
    "CodeFormer": ("codeformer", (22.70, 0.644, 0.438, 64.64, 8.01, 25.99)),
    "DR2": (None, (21.69, 0.661, 0.490, 72.49, 8.69, 43.11)),
    "GFPGAN": (None, (21.25, 0.615, 0.532, 73.49, 12.26, 68.61)),
}
CELEBA_TESTSETS = ("celeba_test", "celeba_difface_grid")


def is_celeba_test(name: str, meta: Mapping[str, Any]) -> bool:
    return name in CELEBA_TESTSETS or "CelebA-Test" in str(meta.get("description", ""))


def quoted_tables(name: str, meta: Mapping[str, Any], methods: Sequence[str]) -> tuple[list[str], str]:
    """Markdown lines and HTML for the quoted table; empty unless `name` is a CelebA-Test set."""
    if not is_celeba_test(name, meta):
        return [], ""
    header = ["published method (quoted)", "suite row", *COLUMNS]
    md = ["", f"Published numbers, QUOTED from the paper, not measured by this suite ({SOURCE}). "
          f"Their protocol: {PROTOCOL}.", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = []
    for published, (ours, values) in CELEBA_TEST.items():
        suite = ours if ours in methods else "-"
        cells = [f"{published} (quoted)", suite, *(f"{v:.3f}" if v < 1 else f"{v:.2f}" for v in values)]
        md.append("| " + " | ".join(cells) + " |")
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    page = (f"<p><i>Published numbers, quoted from the paper, not measured by this suite ({html.escape(SOURCE)}). "
            f"Their protocol: {html.escape(PROTOCOL)}.</i></p><table><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")
    return md, page
