"""Restore a folder of LQ faces with a method, on one process or many, resumably, to the same bytes either way.

The work folder (`checkpoints/restore/METHOD/TESTSET/` in the pipeline) holds:
- `key.json`: what the images in it were made from (method, a digest of its model folder, the sampling settings, a
  digest of the LQ files, convert/size, the accelerator, the code a restore runs (engine.fingerprint.RESTORE_CODE)
  and torch's version);
- `images/<stem>.png`: one file per restored image, written atomically by the one rank that owns its batch;
- `timing/<attempt>-r<rank>.json`: each rank's speed record (bfrbench.engine.restore_speed).

Why the output is the same bytes whatever the number of processes and the interruptions: every image's noise comes
from its own generator seeded by (the method's seed, the image) (`methods.common.image_seed`: keyed by the image's
bytes, so by the image whatever its name or position), and an image is always restored in the same fixed batch
(`engine.sharded.global_batches`); after a kill, a batch with any image missing is restored again whole; on CPU every
process runs the same number of torch threads (`engine.devices.CPU_THREADS`). The batch size is part of a restore's
identity (in key.json, and a tracked DVC param): CPU kernels may block a batch of 3 differently from a batch of 4,
and a sampler grows that last bit into a pixel (a CI run on another x86 CPU: 1 of 12 tiny-DifFace images differed
between batch 3 and batch 4; on the AMD EPYC that wrote the test, none did). Rank 0 alone
builds the output folder (atomically: a temporary folder renamed into place, files hard-linked from the work folder)
and the metadata file, then removes the work folder.

A work folder left by a different run (its key.json differs) is refused with a ConfigError naming what differs:
its images were made from other inputs, weights, settings or code, and mixing them in would change the result.
`restart=True` (`--restart`) discards it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from bfrbench.engine.devices import CPU_THREADS, DeviceConfig
from bfrbench.engine.sharded import Plan, global_batches
from bfrbench.errors import BFRBenchError, ConfigError

KEY_FILE = "key.json"
IMAGES = "images"
TIMING = "timing"


def _attempt_id() -> str:
    import uuid

    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


@dataclass
class RestoreJob:
    method: str
    lq_dir: Path
    out: Path
    models_dir: Path
    work: Path
    sampling: dict[str, Any]  # the method's settings, already merged over its defaults
    devices: DeviceConfig = field(default_factory=DeviceConfig)
    batch_size: int = 8
    convert: bool = False
    size: int | None = None
    overwrite: bool = False
    restart: bool = False
    speed_file: Path | None = None  # where the speed figures go (default: `<out>.restore.json`)
    seed_offset: int = 0  # another draw of a stochastic method's noise (bfrbench.stages.seeds); 0 = its own seed
    attempt: str = field(default_factory=_attempt_id)  # shared with every rank through the plan

    # --- identity -----------------------------------------------------------------------------------------------

    @cached_property
    def stems(self) -> list[tuple[str, Path]]:
        from bfrbench.io.pairing import index_by_stem

        index = index_by_stem(self.lq_dir)  # fails on duplicate stems
        if not index:
            raise BFRBenchError(f"{self.lq_dir}: no images to restore", fix="point it at a folder of LQ faces")
        return [(stem, index[stem]) for stem in sorted(index)]

    @cached_property
    def key(self) -> dict[str, Any]:
        from importlib.metadata import version

        from bfrbench.engine.fingerprint import code_digest, files_digest, folder_digest

        return {
            "method": self.method,
            "models": folder_digest(self.models_dir),
            "sampling": self.sampling,
            "lq": files_digest((p.name, p) for _, p in self.stems),
            "convert": bool(self.convert),
            "size": self.size,
            "batch_size": self.batch_size,  # kernels may block another batch size differently (docstring)
            "seed_offset": self.seed_offset,
            "accelerator": self.devices.accelerator,  # GPU and CPU kernels may differ in the last bit
            "cpu_threads": CPU_THREADS if self.devices.accelerator == "cpu" else None,  # so may thread counts
            "code": code_digest(),
            "torch": version("torch"),
        }

    def check(self) -> None:
        """Read-only checks every process may run before anything starts: the output may be written, and the work
        folder is absent, empty, or this run's."""
        from bfrbench.io.atomic import check_can_write

        check_can_write(self.out, self.overwrite)
        self.stems  # noqa: B018 - a missing or empty LQ folder fails here
        if self.restart or not self.work.is_dir() or not any(self.work.iterdir()):
            return
        try:
            left = json.loads((self.work / KEY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            left = None
        if left != json.loads(json.dumps(self.key)):
            what = ", ".join(k for k in self.key if not isinstance(left, dict) or left.get(k) != self.key[k])
            raise ConfigError(
                f"{self.work}: a partial restore left by a different run (differs in: {what or 'key.json'}); "
                "its images cannot be mixed into this one",
                fix=f"delete it (rm -rf {self.work}) or pass --restart to discard it; to finish that run instead, "
                "run it again with its own method, models, settings and inputs")

    @property
    def speed_path(self) -> Path:
        from bfrbench.engine.restore_speed import meta_path

        return Path(self.speed_file) if self.speed_file else meta_path(self.out)

    # --- ShardedJob ---------------------------------------------------------------------------------------------

    def plan(self) -> Plan:
        from bfrbench.io.atomic import write_text_atomic

        self.check()
        if self.restart and self.work.exists():
            shutil.rmtree(self.work)
        (self.work / IMAGES).mkdir(parents=True, exist_ok=True)
        (self.work / TIMING).mkdir(exist_ok=True)
        if not (self.work / KEY_FILE).is_file():
            write_text_atomic(self.work / KEY_FILE, json.dumps(self.key, indent=1, sort_keys=True) + "\n")
        done = {stem for stem, _ in self.stems if (self.work / IMAGES / f"{stem}.png").is_file()}
        batches = global_batches(self.stems, self.batch_size)
        todo = [[(stem, str(path)) for stem, path in batch] for batch in batches
                if any(stem not in done for stem, _ in batch)]
        return Plan(todo, {"attempt": self.attempt})

    def start(self, rank: int, device: str, shared: dict[str, Any]) -> None:
        from bfrbench.engine.restore_speed import SpeedRecorder
        from bfrbench.methods.registry import get_method

        self.restorer = get_method(self.method).load(self.models_dir, device=device, sampling=self.sampling)
        if self.seed_offset:
            if not hasattr(self.restorer, "seed"):
                raise ConfigError(f"{self.method} draws no noise (no seed): another seed restores the same images",
                                  fix="use seed offsets with stochastic methods only (bfrbench methods)")
            self.restorer.seed = int(self.restorer.seed) + int(self.seed_offset)
        nfe = getattr(self.restorer, "nfe", None)
        if nfe is None:
            raise RuntimeError(f"{self.method}'s restorer has no `nfe` (network evaluations per image)")
        self.recorder = SpeedRecorder(self.work / TIMING / f"{shared['attempt']}-r{rank}.json", nfe, device)
        self._started = self._cpu_started = 0.0

    def describe(self, item) -> int:
        return len(item)

    def process(self, item):
        import numpy as np

        from bfrbench.io.images import read_image

        self._started, self._cpu_started = time.perf_counter(), time.process_time()
        batch = np.stack([read_image(path, convert=self.convert, size=self.size) for _, path in item])
        restored = self.restorer.restore(batch)
        if restored.shape != batch.shape or restored.dtype != np.uint8:
            raise RuntimeError(f"{self.method} returned {restored.dtype} {restored.shape}, expected {batch.shape}")
        return restored

    def write(self, item, restored) -> None:
        from bfrbench.io.atomic import write_bytes_atomic
        from bfrbench.io.images import encode_png

        for (stem, _), img in zip(item, restored):
            write_bytes_atomic(self.work / IMAGES / f"{stem}.png", encode_png(img))
        self.recorder.add(len(item), time.perf_counter() - self._started, time.process_time() - self._cpu_started)

    def finish(self, seconds: float) -> dict[str, Any]:
        from bfrbench.engine.restore_speed import summarize
        from bfrbench.io.atomic import atomic_dir, write_text_atomic

        images = self.work / IMAGES
        missing = [stem for stem, _ in self.stems if not (images / f"{stem}.png").is_file()]
        if missing:  # a rank failed without stopping the others: never publish a partial folder
            raise RuntimeError(f"{self.work}: {len(missing)} image(s) were not restored, e.g. {missing[0]}")
        with atomic_dir(self.out, overwrite=self.overwrite) as tmp:
            for stem, _ in self.stems:
                _link_or_copy(images / f"{stem}.png", tmp / f"{stem}.png")
        meta = {"method": self.method, "lq_dir": str(self.lq_dir), "out": str(self.out),
                **summarize(self.work / TIMING, self.attempt, len(self.stems), seconds),
                "accelerator": self.devices.accelerator, "devices": self.devices.devices,
                "num_nodes": self.devices.num_nodes, "batch_size": self.batch_size,
                "speed_file": str(self.speed_path)}
        write_text_atomic(self.speed_path, json.dumps(meta, indent=2) + "\n")
        shutil.rmtree(self.work, ignore_errors=True)
        return meta


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link (no copy of a 4,000-image set), or a copy when the work folder is on another file system."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
