"""A ShardedJob (bfrbench.engine.sharded) on many processes: Lightning's `Trainer.predict` with a prediction writer.

Lightning starts and joins the processes (`strategy: ddp` re-runs the command in each rank; torchrun and SLURM
start them themselves and Lightning reads their environment), sets up the process group (gloo on CPU, NCCL on GPUs)
and gives each rank its device. The job does the rest: `JobModule.setup` runs `plan()` on rank 0 and broadcasts it
(or the error it raised, so every rank stops with the same message instead of waiting for rank 0); each rank gets
its share of the items, `predict_step` processes one, `JobWriter` writes it. Every rank then meets at a barrier and
rank 0 merges.

This module imports Lightning at the top: it is imported only when more than one process runs. Its classes are at
module level so that `ddp_spawn` can pickle them.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset

from bfrbench.engine.devices import CPU_THREADS, DeviceConfig
from bfrbench.engine.sharded import ShardedJob, shard


class _Items(Dataset):
    def __init__(self, items: list[Any]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


def _as_is(item: Any) -> Any:  # an item is already a batch (no collation; module level so it pickles)
    return item


def _error_record(exc: BaseException) -> dict[str, Any]:
    from bfrbench.errors import BFRBenchError

    if isinstance(exc, BFRBenchError):
        return {"type": type(exc).__name__, "message": exc.message, "fix": exc.fix}
    return {"type": "RuntimeError", "message": f"rank 0 failed to plan: {type(exc).__name__}: {exc}", "fix": None}


def _raise(record: dict[str, Any]) -> None:
    from bfrbench import errors

    cls = getattr(errors, record["type"], None)
    if isinstance(cls, type) and issubclass(cls, errors.BFRBenchError):
        raise cls(record["message"], fix=record["fix"])
    raise RuntimeError(record["message"])


def quiet_lightning() -> None:
    """Lightning's advice that does not apply here, silenced for this process (a spawned rank calls it too)."""
    # one item is one batch and workers would only copy it: the advice to add workers does not apply
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # the writer gets each item itself: it needs no batch indices from a sampler
    warnings.filterwarnings("ignore", message=".*Couldn't infer the batch indices.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")  # inside Lightning 2.6 itself
    # a rank with no items (JobModule allows it) or a run with nothing left to do is expected, not a mistake
    warnings.filterwarnings("ignore", message=".*across ranks is zero.*")


class JobModule(pl.LightningModule):
    def __init__(self, job: ShardedJob):
        super().__init__()
        self.job = job
        self.items: list[Any] = []
        # Fewer items than ranks (a small set on many GPUs, or a resume with one batch left) leaves a rank without
        # work: it only waits at the merge barrier. Without this flag Lightning stops such a rank with an error.
        self.allow_zero_length_dataloader_with_multiple_devices = True

    def setup(self, stage: str) -> None:
        quiet_lightning()
        strategy = self.trainer.strategy
        message: dict[str, Any]
        failure = None
        if self.trainer.is_global_zero:
            try:
                plan = self.job.plan()
                message = {"items": plan.items, "shared": plan.shared}
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the other ranks are told
                failure, message = exc, {"error": _error_record(exc)}
        else:
            message = {}
        message = strategy.broadcast(message, src=0)
        if failure is not None:
            raise failure
        if "error" in message:
            _raise(message["error"])
        self.items = shard(message["items"], self.trainer.global_rank, self.trainer.world_size)
        device = str(strategy.root_device)
        if device.startswith("cpu"):  # for the process's lifetime (a rank is a process): see devices.CPU_THREADS
            torch.set_num_threads(CPU_THREADS)
        self.job.start(self.trainer.global_rank, device, message["shared"])

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(_Items(self.items), batch_size=None, shuffle=False, num_workers=0, collate_fn=_as_is)

    def predict_step(self, item: Any, batch_idx: int) -> Any:
        # the old single-process loop ran with autograd on; methods that need gradients (CLR-Face's identity
        # guidance) enable them themselves, and the rest run under their own inference_mode
        with torch.enable_grad():
            return self.job.process(item)


class JobWriter(BasePredictionWriter):
    def __init__(self):
        super().__init__(write_interval="batch")

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0) -> None:
        pl_module.job.write(batch, prediction)


def build_trainer(devices: DeviceConfig, progress: bool):
    return pl.Trainer(
        accelerator=devices.accelerator,
        devices=devices.devices,
        num_nodes=devices.num_nodes,
        strategy=devices.strategy,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        use_distributed_sampler=False,  # items are sharded by `shard` (fixed batches, no padding, no repeats)
        inference_mode=False,  # inference tensors cannot enter autograd, which CLR-Face's guidance needs
        callbacks=[JobWriter()],
    )


def run_distributed(job: ShardedJob, devices: DeviceConfig, progress: bool = True, desc: str = "") -> Any:
    """Run `job` on every rank; rank 0 merges and returns `job.finish(...)`, the other ranks return None."""
    start = time.perf_counter()
    quiet_lightning()
    trainer = build_trainer(devices, progress)
    trainer.predict(JobModule(job), return_predictions=False)
    trainer.strategy.barrier("bfrbench-merge")  # every rank has written its files
    if not trainer.is_global_zero:
        return None
    return job.finish(time.perf_counter() - start)
