"""The Lightning callback that measures one preflight run of a training stage (one JSON file per rank).

Measured per process: parameters (total, trainable) at train start; peak memory (GPU: the allocator's peak; CPU:
the process's peak RSS); wall seconds of every training batch, split into data loading (the gap between a batch's
end and the next batch's start, and from the epoch's start to its first batch) and the step itself; optimizer steps
per batch (manual-optimisation GANs step twice once their discriminator is on). With `stop_after`, it stops the run
once that many optimizer steps are done, after the periodic checkpoint of that step has been written (it runs after
the Trainer's own callbacks), as a preempted job would stop.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import lightning as L


def rank_file(path: Path, rank: int) -> Path:
    """`probe.json` -> `probe.rank0.json`: every process writes its own file."""
    path = Path(path)
    return path.with_name(f"{path.stem}.rank{rank}{path.suffix}")


def peak_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if os.uname().sysname == "Darwin" else peak * 1024)


class PreflightProbe(L.Callback):
    def __init__(self, path: Path, stop_after: int | None = None):
        self.path = Path(path)
        self.stop_after = stop_after
        self.record: dict[str, Any] = {"batches": []}
        self._batch_start = 0.0
        self._ready = 0.0  # when the loop was last ready for a batch (previous batch end, or epoch start)
        self._step_at_start = 0

    def _cuda(self, pl_module) -> bool:
        return pl_module.device.type == "cuda"

    def on_train_start(self, trainer, pl_module) -> None:
        import torch

        params = list(pl_module.parameters())
        self.record.update({
            "rank": int(trainer.global_rank), "world_size": int(trainer.world_size),
            "parameters": sum(p.numel() for p in params),
            "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
            "start_step": int(trainer.global_step), "max_steps": int(trainer.max_steps),
            "device": str(pl_module.device), "precision": str(trainer.precision),
        })
        if self._cuda(pl_module):
            torch.cuda.reset_peak_memory_stats(pl_module.device)
        self._ready = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._ready = time.perf_counter()  # the first batch's wait includes creating the epoch's iterator

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch_start = time.perf_counter()
        self._step_at_start = int(trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._cuda(pl_module):
            import torch

            torch.cuda.synchronize(pl_module.device)  # the step's kernels are done before its time is read
        end = time.perf_counter()
        self.record["batches"].append({"data_seconds": self._batch_start - self._ready,
                                       "step_seconds": end - self._batch_start,
                                       "optimizer_steps": int(trainer.global_step) - self._step_at_start})
        self._ready = end
        if self.stop_after is not None and trainer.global_step >= self.stop_after:
            trainer.should_stop = True

    def on_train_end(self, trainer, pl_module) -> None:
        self.record["end_step"] = int(trainer.global_step)
        self.record["stopped_early"] = bool(self.stop_after is not None and trainer.global_step < trainer.max_steps)
        self._write(trainer, pl_module)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.record["error"] = f"{type(exception).__name__}: {exception}"[:2000]
        self._write(trainer, pl_module)

    def _write(self, trainer, pl_module) -> None:
        memory = {"peak_rss_bytes": peak_rss_bytes()}
        if self._cuda(pl_module):
            import torch

            memory["peak_gpu_bytes"] = int(torch.cuda.max_memory_allocated(pl_module.device))
        self.record.update(memory)
        path = rank_file(self.path, int(trainer.global_rank))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.record, indent=1) + "\n")
        os.replace(tmp, path)
