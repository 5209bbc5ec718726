"""Where a restore or score runs: accelerator, processes per node, strategy, nodes; checked before anything starts.

params.yaml `restore:` / `score:` hold `accelerator` (cpu or gpu), `devices` (processes per node), `strategy`
(ddp, or ddp_spawn inside pytest) and `num_nodes`; `--accelerator`, `--devices`, `--strategy` and `--num-nodes` on the
command line win over them. One process on one node runs a plain loop; anything more runs under Lightning's
`Trainer.predict` (bfrbench.engine.lightning_job), which also reads torchrun's and SLURM's environment.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bfrbench.errors import ConfigError

ACCELERATORS = ("cpu", "gpu")
STRATEGIES = ("ddp", "ddp_spawn")
# Intra-op threads of every CPU process of a restore or score. Fixed, not cores / processes: some CPU kernels give
# other last bits with another thread count, and a diffusion sampler grows those into different pixels (a tiny
# DifFace at 20 steps: 3 of 24 images differed between 1 and 2 threads). One thread per process keeps the bytes
# independent of --devices; use --devices (one process per core) to use more cores. On this project's 2-core
# machines one thread per process was also the fastest.
CPU_THREADS = 1
# Set by torchrun (WORLD_SIZE) or SLURM (SLURM_NTASKS): the processes exist already and Lightning joins them.
_LAUNCHED_WORLD = ("WORLD_SIZE", "SLURM_NTASKS")


@dataclass(frozen=True)
class DeviceConfig:
    accelerator: str = "cpu"
    devices: int = 1
    strategy: str = "ddp"
    num_nodes: int = 1

    @property
    def distributed(self) -> bool:
        """More than one process: Lightning runs it (also when torchrun/srun started the processes)."""
        return self.devices * self.num_nodes > 1 or _launched_world() > 1

    @property
    def torch_device(self) -> str:
        """The device of a single-process run."""
        return "cuda" if self.accelerator == "gpu" else "cpu"


def _launched_world() -> int:
    for var in _LAUNCHED_WORLD:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 1


def available_devices(accelerator: str) -> int:
    """GPUs torch sees, or the CPU cores this process may run on (one process per core)."""
    if accelerator == "gpu":
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _legacy_accelerator(device: str, where: str) -> str:
    """The old `device: cpu|cuda[:N]` key or --device flag, as an accelerator."""
    name = str(device).split(":")[0]
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"{where}: device {device!r} is not cpu or cuda", fix="use `accelerator: cpu` or `gpu`")
    return "gpu" if name == "cuda" else "cpu"


def device_config(block: Mapping[str, Any] | None, where: str, *, accelerator: str | None = None,
                  devices: int | None = None, strategy: str | None = None, num_nodes: int | None = None,
                  device: str | None = None) -> DeviceConfig:
    """The checked DeviceConfig of a params block (`restore` or `score`) with the command line's overrides.

    `device` (the old `--device` flag / `device:` key) is still read so that existing calls keep working; it names
    the accelerator and wins over the block's `accelerator` (it is what the caller wrote last), with a warning."""
    block = dict(block or {})
    legacy = device if device is not None else block.get("device")
    chosen = accelerator or block.get("accelerator") or "cpu"
    if legacy is not None and accelerator is None:
        old = _legacy_accelerator(legacy, where)
        warnings.warn(f"{where}: `device: {legacy}` is deprecated; it means `accelerator: {old}`", stacklevel=2)
        chosen = old
    if chosen not in ACCELERATORS:
        raise ConfigError(f"{where}: unknown accelerator {chosen!r}", fix=f"use one of: {', '.join(ACCELERATORS)}")
    n = devices if devices is not None else block.get("devices", 1)
    nodes = num_nodes if num_nodes is not None else block.get("num_nodes", 1)
    for name, value in (("devices", n), ("num_nodes", nodes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}: {name} must be a whole number >= 1, got {value!r}",
                              fix=f"--{name.replace('_', '-')} 1 runs one process (on one node)")
    how = strategy or block.get("strategy") or "ddp"
    if how not in STRATEGIES:
        raise ConfigError(f"{where}: unknown strategy {how!r}",
                          fix=f"use one of: {', '.join(STRATEGIES)} (ddp_spawn only inside pytest)")
    have = available_devices(chosen)
    what = "GPU(s)" if chosen == "gpu" else "CPU core(s)"
    if have == 0:
        raise ConfigError(f"{where}: accelerator gpu, but torch sees no GPU on this machine",
                          fix="use --accelerator cpu, or check CUDA_VISIBLE_DEVICES and the driver")
    if n > have:
        raise ConfigError(f"{where}: --devices {n}, but this machine has only {have} {what} for this process",
                          fix=f"use --devices {have} or fewer (per node; more nodes: --num-nodes with torchrun/srun)")
    return DeviceConfig(chosen, n, how, nodes)


@contextlib.contextmanager
def cpu_threads(device: str) -> Iterator[None]:
    """Hold torch to CPU_THREADS intra-op threads while a job runs on the CPU (and give the old count back)."""
    if not str(device).startswith("cpu"):
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(old)
