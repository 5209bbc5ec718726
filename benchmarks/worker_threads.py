"""DataLoader workers with their library thread pools left at the default vs held to one thread each.

The training DataModule's `worker_init_fn` (`bfrbench.data.datamodule._worker_init`) sets torch and OpenCV to one
thread per worker. This measures why: N worker processes that each keep a pool as wide as the machine run N x cores
threads on `cores` cores. Each run degrades the same in-memory faces with the training path
(`DegradationPipeline(..., fast_blur=True)`, same draws by (seed, epoch, index)); the two settings are interleaved
and the best of --repeat epochs is kept, so the ratio is measured under the same load.

    .venv/bin/python benchmarks/worker_threads.py [--workers 2] [--images 64] [--size 512] [--repeat 3] [--train]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from bfrbench.data.datamodule import _worker_init
from bfrbench.data.degradation import DegradationPipeline


class Faces(Dataset):
    def __init__(self, face: np.ndarray, n: int, preset: str):
        self.face, self.n = face, n
        self.pipeline = DegradationPipeline.from_config(preset, seed=0, fast_blur=True)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> np.ndarray:
        return self.pipeline(self.face, index, 0)[0]


def as_list(batch: list) -> list:  # no collation: the degradation is what is timed
    return batch


def face(size: int) -> np.ndarray:
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut()[20:220, 130:330], (size, size), interpolation=cv2.INTER_CUBIC)


def epoch_seconds(loader: DataLoader, step=None) -> float:
    start = time.perf_counter()
    for batch in loader:
        if step is not None:
            step(batch)
    return time.perf_counter() - start


def training_step(size: int):
    """A small conv net's forward + backward per batch in the main process (torch's default threads), as in a
    training stage: the workers then compete with it for the cores."""
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(32, 3, 3, padding=1))

    def step(batch: list) -> None:
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255
        net(x).square().mean().backward()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--preset", default="codeformer_stage2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--train", action="store_true", help="run a training step per batch in the main process")
    args = ap.parse_args()
    dataset = Faces(face(args.size), args.images, args.preset)
    loaders = {
        name: DataLoader(dataset, batch_size=8, num_workers=args.workers, worker_init_fn=init,
                         multiprocessing_context="spawn", persistent_workers=True, collate_fn=as_list)
        for name, init in (("default threads", None), ("one thread per worker", _worker_init))
    }
    step = training_step(args.size) if args.train else None
    for loader in loaders.values():
        epoch_seconds(loader, step)  # warm-up: start the workers, import, first allocations
    best = dict.fromkeys(loaders, float("inf"))
    for _ in range(args.repeat):
        for name, loader in loaders.items():
            best[name] = min(best[name], epoch_seconds(loader, step))
    print(f"{args.images} faces at {args.size} px, preset {args.preset}, {args.workers} workers, "
          f"{'with' if args.train else 'without'} a training step per batch, "
          f"{os.cpu_count()} cores, torch {torch.__version__} (default {torch.get_num_threads()} threads), "
          f"best of {args.repeat}")
    for name, seconds in best.items():
        print(f"  {name:>22}: {seconds:6.2f} s  ({args.images / seconds:6.1f} img/s)")
    print(f"  default / one thread: {best['default threads'] / best['one thread per worker']:.2f}x")


if __name__ == "__main__":
    main()
