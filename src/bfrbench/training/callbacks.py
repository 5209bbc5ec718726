"""Lightning callbacks and the checkpoint I/O that make a training stage resume to the same bytes.

Lightning restores weights, optimizers, schedulers, loops and the data position (through `ResumableLoader`'s
`state_dict`), but not the global random number generators, and it writes checkpoints in place. These fill the gaps:
- `RNGState`: the Python, numpy, torch (and CUDA) generators go into every checkpoint and come back on resume;
- `IsolatedValidationRNG`: validation leaves the generators as it found them, so training draws the same numbers
  whether or not (and however often) validation ran in between, e.g. a resumed run's sanity check;
- `FinalMetrics`: the metrics logged so far travel in the checkpoint, so a stage re-run after it finished (nothing
  left to train) writes the same card as the run that trained;
- `FinalCheckpoint`: a checkpoint at the very last step, whatever `checkpoint_every_n_steps` is, so export and the
  card read one file that is the same in an interrupted and an uninterrupted run;
- `AtomicCheckpointIO`: a checkpoint is written to a temporary file and renamed, so SIGKILL during a save leaves
  the previous checkpoint intact instead of a truncated `last.ckpt`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

FINAL_CHECKPOINT = "final.ckpt"


def capture_rng() -> dict[str, Any]:
    """Every global generator's state as plain types and tensors (checkpoints load with weights_only=True)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RNGState(L.Callback):
    def state_dict(self) -> dict[str, Any]:
        return capture_rng()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        restore_rng(state_dict)


class IsolatedValidationRNG(L.Callback):
    def __init__(self) -> None:
        self._saved: dict[str, Any] | None = None

    def on_validation_start(self, trainer, pl_module) -> None:
        self._saved = capture_rng()

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._saved is not None:
            restore_rng(self._saved)
            self._saved = None

    on_sanity_check_start = on_validation_start
    on_sanity_check_end = on_validation_end


class FinalMetrics(L.Callback):
    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}

    def _collect(self, trainer) -> None:
        for key, value in trainer.callback_metrics.items():
            self.metrics[key] = float(value)

    def state_dict(self) -> dict[str, Any]:
        return dict(self.metrics)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.metrics = {k: float(v) for k, v in state_dict.items()}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._collect(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._collect(trainer)


class FinalCheckpoint(L.Callback):
    """Saves `dirpath/final.ckpt` when training ends (every rank calls it; the strategy writes on rank 0)."""

    def __init__(self, dirpath: Path) -> None:
        self.path = Path(dirpath) / FINAL_CHECKPOINT

    def on_train_end(self, trainer, pl_module) -> None:
        trainer.save_checkpoint(self.path)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Why our own: Lightning's TorchCheckpointIO writes the target file in place (a kill mid-write truncates it)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)
