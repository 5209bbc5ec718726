"""The restores' speed: the leaderboard's NFE column, and the speed table `speed/speed.md` (s/img, images/s, memory).

Both come from the restores' speed files (`speed/METHOD/TESTSET.json`, bfrbench.engine.restore_speed). NFE (network
evaluations per image) is fixed by the method and its sampling settings, so it sits in the leaderboard; timings and
memory differ from run to run and machine to machine, so they are kept out of `reports/`, which DVC hashes and which
must be the same bytes in every clone (docs/reproducibility.md): they go to `speed/speed.md`, beside the speed files.
s/img is device-seconds per image (restoring only, summed over every process and resumed attempt, models' loading
left out), so rows restored on different numbers of devices compare. Nothing here is bold: faster is not better
restoration.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench import paths
from bfrbench.report.cells import format_number

NFE_NOTE = ("NFE: network evaluations per image (0: no network, 1: one pass, else the sampler's denoiser calls). "
            "Seconds per image and memory, measured on the machine that ran each restore, are in speed/speed.md "
            "(timings differ between runs, so they are kept out of this report, whose bytes are reproducible).")
SPEED_HEADER = ["method", "s/img ↓", "images/s", "NFE", "accelerator", "devices", "peak host MiB", "peak GPU MiB"]


def _figures(method: str, testset: str, speed_dir: Path) -> dict[str, Any]:
    from bfrbench.engine.restore_speed import read_meta

    return read_meta(speed_dir / method / f"{testset}.json")


def _number(value: Any) -> str:
    return format_number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else "n/a"


def _mib(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "n/a"


def write_speed_table(params: Mapping[str, Any], speed_dir: Path = paths.SPEED) -> Path | None:
    """`speed_dir/speed.md`: one table per test set; None (nothing written) when no restore left a speed file."""
    from bfrbench.io.atomic import write_text_atomic

    lines = [f"# bfrbench restore speed: profile `{params['profile']}`", "",
             "Measured on the machine that ran each restore (not reproducible bytes, so not in reports/). s/img: "
             "device-seconds per image (restoring only, summed over every process and resumed attempt); images/s: "
             "the devices' throughput of the last attempt; NFE: network evaluations per image.", ""]
    found = False
    for testset in params["testsets"]:
        lines += [f"## {testset}", "", "| " + " | ".join(SPEED_HEADER) + " |", "|" + "---|" * len(SPEED_HEADER)]
        for method in params["methods"]:
            fig = _figures(method, testset, speed_dir)
            found = found or bool(fig)
            nfe = fig.get("nfe")
            lines.append("| " + " | ".join([
                method, _number(fig.get("seconds_per_image")), _number(fig.get("images_per_second")),
                f"{nfe:g}" if isinstance(nfe, (int, float)) else "n/a", str(fig.get("accelerator", "n/a")),
                str(fig.get("devices", "n/a")), _mib(fig.get("peak_host_memory_mb")),
                _mib(fig.get("peak_gpu_memory_mb"))]) + " |")
        lines.append("")
    if not found:
        return None
    return write_text_atomic(Path(speed_dir) / "speed.md", "\n".join(lines))
