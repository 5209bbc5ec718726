"""The leaderboard's speed columns, beside the quality ones: s/img and NFE of each restore.

Both come from the restore's metadata file (`results/METHOD/TESTSET.restore.json`, bfrbench.engine.restore_speed),
which DVC does not hash with the images: s/img is device-seconds per image (restoring only, summed over every process
and resumed attempt, models' loading left out), so rows restored on different numbers of devices compare; NFE is
the method's network evaluations per image. Neither is bold: faster is not better restoration.
"""

from __future__ import annotations

from bfrbench import paths
from bfrbench.report.cells import format_number

HEADER = ["s/img ↓", "NFE"]
NOTE = ("s/img: device-seconds per image of the restore (restoring only; the accelerator, device count and peak "
        "memory are in results/METHOD/TESTSET.restore.json); NFE: network evaluations per image (0: no network, "
        "1: one pass, else the sampler's denoiser calls). Measured on the machine that ran the restore.")


def speed_cells(method: str, testset: str) -> list[str]:
    from bfrbench.engine.restore_speed import read_meta

    meta = read_meta(paths.result_dir(method, testset))
    seconds, nfe = meta.get("seconds_per_image"), meta.get("nfe")
    return [format_number(seconds) if isinstance(seconds, (int, float)) else "n/a",
            f"{nfe:g}" if isinstance(nfe, (int, float)) else "n/a"]
