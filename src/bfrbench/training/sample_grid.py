"""`SampleGrid`: a grid of validation faces in the stage's MLflow run at every validation (`samples/stepNNNNNNN.png`).

What a stage shows is the module's own answer, through an optional hook

    def validation_images(self, batch) -> dict[str, Tensor] | None

that maps column labels to N x 3 x H x W images in [0, 1], in column order (e.g. LQ | output | HQ; an autoencoder:
its input | reconstruction). A module without the hook, or whose hook returns None, has no image output (a
diffusion prior, an embedding): no grid, one debug log line. The grid has one row per face, the first
`trainer.sample_faces` faces of the fixed validation set (0: no grids), tiles at most MAX_TILE px.

Why it cannot change what a stage trains or writes:
- it runs on global rank 0 only and only when the Trainer has an MLFlowLogger (none on other ranks, none with
  BFRBENCH_NO_MLFLOW=1); it calls the hook on the LightningModule itself, not through the DDP wrapper, so no
  collective is involved and the other ranks simply go on validating;
- the hook runs inside validation (after `validation_step` of the batch: eval mode, Lightning's inference mode, the
  precision plugin's context) under torch.no_grad, and every global generator is put back as it was, on top of
  IsolatedValidationRNG, which restores them after validation anyway;
- the grid goes to MLflow's artifact store only: no file in the stage's output folder (DVC hashes it) nor in the
  resume folder, and the callback has no state, so checkpoints are the same with and without it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning as L
import numpy as np
import torch

from bfrbench.training.callbacks import capture_rng, restore_rng

log = logging.getLogger(__name__)

MAX_TILE = 256  # px: a paper-size (512 px) grid every few thousand steps would fill the MLflow store
ARTIFACT_DIR = "samples"


def artifact_name(step: int) -> str:
    return f"{ARTIFACT_DIR}/step{int(step):07d}.png"


def head(batch: Mapping[str, Any], n: int) -> dict[str, Any]:
    """The first `n` samples of a collated batch (tensors and lists sliced, anything else kept as is)."""
    out = {}
    for key, value in batch.items():
        if (isinstance(value, torch.Tensor) and value.ndim > 0) or isinstance(value, (list, tuple)):
            value = value[:n]
        out[key] = value
    return out


def to_uint8_images(images: torch.Tensor, what: str) -> np.ndarray:
    """N x 3 x H x W (or N x 1 x H x W) in [0, 1] -> N x H x W x 3 uint8."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"validation_images: {what} must be N x 3 x H x W images in [0, 1], got {shape}")
    images = images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.permute(0, 2, 3, 1).contiguous().numpy()


def mlflow_logger(trainer):
    from lightning.pytorch.loggers import MLFlowLogger

    for logger in trainer.loggers:
        if isinstance(logger, MLFlowLogger):
            return logger
    return None


class SampleGrid(L.Callback):
    def __init__(self, faces: int = 4, max_tile: int | None = MAX_TILE) -> None:
        self.faces = int(faces)
        self.max_tile = max_tile
        self._rows: list[list[np.ndarray]] = []
        self._labels: list[str] | None = None
        self._told = False  # the "no grid for this stage" line is logged once

    def _active(self, trainer) -> bool:
        return (self.faces > 0 and trainer.is_global_zero and not trainer.sanity_checking
                and mlflow_logger(trainer) is not None)

    def _no_grid(self, pl_module, why: str) -> None:
        if not self._told:
            log.debug("no sample grid: %s %s", type(pl_module).__name__, why)
            self._told = True

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._rows, self._labels = [], None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if len(self._rows) >= self.faces or not self._active(trainer):
            return
        hook = getattr(pl_module, "validation_images", None)
        if hook is None:
            return self._no_grid(pl_module, "has no validation_images hook (no image output)")
        if not isinstance(batch, Mapping):
            return self._no_grid(pl_module, f"gets {type(batch).__name__} validation batches, not a dict")
        saved = capture_rng()
        try:
            with torch.no_grad(), trainer.precision_plugin.val_step_context():
                columns = hook(head(batch, self.faces - len(self._rows)))
        finally:
            restore_rng(saved)
        if not columns:
            return self._no_grid(pl_module, "returns no validation images (no image output)")
        arrays = [to_uint8_images(images, f"column {label!r}") for label, images in columns.items()]
        if len({a.shape[0] for a in arrays}) != 1:
            raise ValueError(f"validation_images of {type(pl_module).__name__}: columns of different lengths "
                             f"{[a.shape[0] for a in arrays]}")
        self._labels = [str(label) for label in columns]
        self._rows.extend([a[i] for a in arrays] for i in range(arrays[0].shape[0]))

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        rows, self._rows = self._rows[: self.faces], []
        if not rows or not self._active(trainer):
            return
        from bfrbench.io.image_grid import image_grid

        logger = mlflow_logger(trainer)
        grid = image_grid(rows, self._labels, max_tile=self.max_tile)
        saved = capture_rng()  # MLflow's client is not ours to audit for random draws
        try:
            logger.experiment.log_image(logger.run_id, grid, artifact_file=artifact_name(trainer.global_step))
        finally:
            restore_rng(saved)
