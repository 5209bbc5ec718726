"""The `restore` stage: run a method over a folder of LQ faces, writing identically named PNGs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bfrbench.methods.registry import get_method


def run_restore(method_name: str, lq_dir: Path, out: Path, models_dir: Path, batch_size: int = 8,
                device: str = "cpu", overwrite: bool = False, convert: bool = False, size: int | None = None,
                progress: bool = True, profile: str = "adhoc", testset: str | None = None,
                sampling: dict[str, Any] | None = None) -> dict[str, Any]:
    """`sampling`: the method's restore-time settings (params.yaml `sampling.<method>`), over its defaults."""
    import numpy as np
    from tqdm.auto import tqdm

    from bfrbench.io.atomic import atomic_dir
    from bfrbench.io.images import encode_png, read_image
    from bfrbench.io.pairing import index_by_stem
    from bfrbench.tracking import stage_run

    index = index_by_stem(lq_dir)  # fails on duplicate stems
    paths = [index[s] for s in sorted(index)]
    from bfrbench.config import merge_known

    method = get_method(method_name)
    settings = merge_known(method.sampling_defaults(), sampling or {}, f"sampling.{method_name}")
    restorer = method.load(models_dir, device=device, sampling=settings)
    t0 = time.perf_counter()
    with stage_run(f"restore/{method_name}/{testset or lq_dir}", profile,
                   {"method": method_name, "lq_dir": str(lq_dir), "batch_size": batch_size, "device": device,
                    "sampling": settings}) as run:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            for i in tqdm(range(0, len(paths), batch_size), desc=f"restore {method_name}", disable=not progress):
                chunk = paths[i : i + batch_size]
                batch = np.stack([read_image(p, convert=convert, size=size) for p in chunk])
                restored = restorer.restore(batch)
                if restored.shape != batch.shape or restored.dtype != np.uint8:
                    raise RuntimeError(f"{method_name} returned {restored.dtype} {restored.shape}, "
                                       f"expected {batch.shape}")
                for p, img in zip(chunk, restored):
                    (tmp / f"{p.stem}.png").write_bytes(encode_png(img))
        seconds = time.perf_counter() - t0
        stats = {"images": len(paths), "seconds": seconds, "seconds_per_image": seconds / max(1, len(paths))}
        run.log_metrics(stats)
    return stats
