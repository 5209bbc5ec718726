"""Speed figures of a restore: images, seconds per image, network evaluations per image (NFE), peak memory.

Each rank keeps a small record in the work folder (`timing/<attempt>-r<rank>.json`, rewritten after every batch, so a
killed attempt keeps what it did) and rank 0 sums them into the restore's speed file: `<out>.restore.json` beside the
output folder, or in the pipeline `speed/METHOD/TESTSET.json` (bfrbench.paths.speed_file). Timings differ from run to
run, so nothing DVC hashes holds them: not the restored folder, not `results/` (a dependency of the report stage),
not `reports/` (the report puts s/img in `speed/speed.md`, bfrbench.report.speed).

- `seconds_per_image`: seconds spent restoring (reading, the method, encoding, writing), summed over every rank and
  every attempt, divided by the images they restored: device-seconds per image, comparable whatever the number of
  devices. Loading the models is not in it.
- `wall_seconds`: this invocation from start to merge (model loading and start-up included); `images_restored`:
  the images this invocation restored (fewer than `images` when it resumed); `images_per_second`: those images over
  the time from the first batch's start on any rank to the last batch's end on any rank (the devices' throughput,
  start-up left out; ranks on several nodes compare their wall clocks).
- `cpu_seconds_per_image`: the same in CPU time of the processes (with `images_per_second`, how many cores the
  restore really had: a busy machine gives two processes less than two cores).
- `nfe`: the restorer's `nfe` (network evaluations per image: 1 for one-pass networks, the sampler's calls for
  diffusion methods).
- `peak_host_memory_mb`: the largest resident set of any rank; `peak_gpu_memory_mb`: the largest
  `torch.cuda.max_memory_allocated` of any rank (null on CPU).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bfrbench.io.atomic import write_text_atomic

META_SUFFIX = ".restore.json"


def meta_path(out: Path) -> Path:
    """The metadata file of the restore written to `out`: a sibling, `results/M/T` -> `results/M/T.restore.json`."""
    out = Path(out)
    return out.with_name(out.name + META_SUFFIX)


def read_meta(path: Path) -> dict[str, Any]:
    """A speed file's figures; {} when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def peak_memory_mb(device: str) -> tuple[float, float | None]:
    """(peak resident set of this process, peak CUDA memory allocated on `device` or None) in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    host = rss / (1 << 20) if sys.platform == "darwin" else rss / 1024
    gpu = None
    if device.startswith("cuda"):
        import torch

        gpu = torch.cuda.max_memory_allocated(torch.device(device)) / (1 << 20)
    return host, gpu


class SpeedRecorder:
    """One rank's figures for one attempt, on disk after every batch."""

    def __init__(self, path: Path, nfe: float, device: str):
        self.path, self.nfe, self.device = Path(path), float(nfe), device
        self.images, self.seconds, self.cpu_seconds = 0, 0.0, 0.0
        self.first: float | None = None  # wall-clock time the first batch started (time.time())

    def add(self, images: int, seconds: float, cpu_seconds: float = 0.0) -> None:
        now = time.time()
        self.first = now - seconds if self.first is None else self.first
        self.images += images
        self.seconds += seconds
        self.cpu_seconds += cpu_seconds
        host, gpu = peak_memory_mb(self.device)
        record = {"images": self.images, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                  "nfe": self.nfe, "device": self.device,
                  "peak_host_memory_mb": host, "peak_gpu_memory_mb": gpu, "first": self.first, "last": now}
        write_text_atomic(self.path, json.dumps(record, indent=1) + "\n")


def summarize(timing_dir: Path, attempt: str, images: int, wall_seconds: float) -> dict[str, Any]:
    """The speed figures of a finished restore from every rank's records (this attempt's and earlier ones')."""
    records = []
    for path in sorted(Path(timing_dir).glob("*.json")):
        try:
            records.append((path.name, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue  # a record cut short by a crash: its images just go untimed
    timed = sum(r["images"] for _, r in records)
    seconds = sum(r["seconds"] for _, r in records)
    now = [r for name, r in records if name.startswith(f"{attempt}-")]
    gpu = [r["peak_gpu_memory_mb"] for _, r in records if r.get("peak_gpu_memory_mb") is not None]
    restored = sum(r["images"] for r in now)
    span = max((r["last"] for r in now), default=0.0) - min((r["first"] for r in now), default=0.0)
    return {
        "images": images,
        "images_restored": restored,
        "images_per_second": restored / span if restored and span > 0 else None,
        "images_timed": timed,
        "seconds_per_image": seconds / timed if timed else None,
        "cpu_seconds_per_image": sum(r.get("cpu_seconds", 0.0) for _, r in records) / timed if timed else None,
        "wall_seconds": wall_seconds,
        "nfe": records[0][1]["nfe"] if records else None,
        "peak_host_memory_mb": max((r["peak_host_memory_mb"] for _, r in records), default=None),
        "peak_gpu_memory_mb": max(gpu) if gpu else None,
    }
