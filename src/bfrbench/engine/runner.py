"""Drive a ShardedJob (bfrbench.engine.sharded): a plain loop in one process, Lightning DDP in many.

On ranks other than 0 `run_job` returns None; on rank 0 it returns what the job's `finish` returns.
"""

from __future__ import annotations

import time
from typing import Any

from bfrbench.engine.devices import DeviceConfig, cpu_threads
from bfrbench.engine.sharded import ShardedJob


def run_job(job: ShardedJob, devices: DeviceConfig, progress: bool = True, desc: str = "") -> Any:
    if devices.distributed:
        from bfrbench.engine.lightning_job import run_distributed

        return run_distributed(job, devices, progress, desc)
    return run_local(job, devices.torch_device, progress, desc)


def run_local(job: ShardedJob, device: str, progress: bool = True, desc: str = "") -> Any:
    from tqdm.auto import tqdm

    start = time.perf_counter()
    plan = job.plan()
    with cpu_threads(device):
        job.start(0, device, plan.shared)
        total = sum(job.describe(item) for item in plan.items)
        with tqdm(total=total, unit="img", desc=desc, disable=not progress) as bar:
            for item in plan.items:
                job.write(item, job.process(item))
                bar.update(job.describe(item))
    return job.finish(time.perf_counter() - start)
