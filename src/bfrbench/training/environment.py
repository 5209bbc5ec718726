"""What a trained stage's bytes depend on besides code, config and seed: the numeric environment.

Float kernels differ between CPU and GPU models (oneDNN/BLAS pick other code paths, reductions run in another
order), so trained weights are bit-identical only on the same kind of machine with the same thread count. Each model
card records this fingerprint so that two cards can be compared knowingly (docs/reproducibility.md).
"""

from __future__ import annotations

import platform
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_fingerprint(accelerator: str = "cpu", deterministic: Any = None) -> dict[str, Any]:
    import lightning
    import numpy as np
    import torch

    gpu = None
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "lightning": lightning.__version__,
        "numpy": np.__version__,
        "cpu": cpu_model(),
        "gpu": gpu,
        "threads": torch.get_num_threads(),
        "deterministic": deterministic,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
