"""`BFRDataModule`: HQ faces degraded on the fly for training, a fixed degraded set for validation.

Determinism: the sampler yields (epoch, index) pairs and the dataset derives every random choice (flip, degradation
parameters, noise) from (seed, epoch, index). The sampler shards by rank itself, so the same sample comes out
whatever the number of workers or processes.

Where the training LQ is made (`data.degrade_on`): "cpu" (null, the default) degrades each sample in the loader
workers with the numpy path (`bfrbench.data.degradation`). "gpu" leaves the workers to read, flip and draw each
sample's `DegradationParams` (from the same per-sample generator, so the same parameters), and degrades the batch
on the training device with the batched torch path (`bfrbench.data.degradation_torch`) in `on_after_batch_transfer`;
the LightningModules get the same keys, dtype, range and shape either way (docs/degradation_torch.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from bfrbench.data.degradation import (
    STREAM_BRANCH,
    STREAM_FLIP,
    STREAM_ORDER,
    DegradationParams,
    DegradationPipeline,
    sample_branch_params,
    sample_rng,
)
from bfrbench.data.faces import read_face
from bfrbench.data.tensors import to_tensor
from bfrbench.errors import BFRBenchError, ConfigError

VAL_EPOCH = 2**31 - 1  # validation samples use their own fixed epoch, never reached by training

DEGRADE_ON = ("cpu", "gpu")  # data.degrade_on; null means cpu
# Keys of a batch whose degradation was left to the training device (degrade_on: gpu); gone once it is degraded.
DEFERRED_KEY = "degrade_params"  # {lq key: (N, PACKED_LEN) int64 packed DegradationParams}
SOURCE_KEY = "hq_color"  # the face the LQ is made from, when the target `hq` may be made gray (gt_gray presets)
# The torch path's JPEG, as the card states it: the real codec, so the LQ is the CPU path's (docs/degradation_torch.md)
TORCH_JPEG = "cpu"
CPU_PATH = "cpu (numpy, bfrbench.data.degradation)"


def torch_noise(blur: str) -> str:
    """degradation_torch's noise mode for degrade_on: gpu: the values the CPU path with the same `data.fast_blur`
    draws (fft32 = fast_blur: true = the fast path's noise; fft64 = the exact path's)."""
    return "fast" if blur == "fft32" else "numpy"


def torch_path(blur: str) -> str:
    """The card's description of the degrade_on: gpu path with this blur."""
    return (f"gpu: the batched torch path on the training device (bfrbench.data.degradation_torch; JPEG: "
            f"jpeg='{TORCH_JPEG}', the OpenCV codec per sample on the CPU, as the CPU path; noise: "
            f"noise='{torch_noise(blur)}', the CPU path's values; blur: {blur})")


_PACKED_INTS = ("branch", "aniso", "jpeg_quality", "noise_seed", "has_color_shift", "gray", "kernel_size")
_PACKED_FLOATS = ("sigma_x", "sigma_y", "theta", "scale", "noise_sigma", "shift_r", "shift_g", "shift_b")
PACKED_LEN = len(_PACKED_INTS) + len(_PACKED_FLOATS)


def pack_params(p: DegradationParams) -> torch.Tensor:
    """One sample's parameters as an int64 vector (floats as their float64 bits): they pass the DataLoader's collate
    and the copy to any device unchanged (int64 exists on every device, float64 not on MPS)."""
    shift = p.color_shift if p.color_shift is not None else (0.0, 0.0, 0.0)
    floats = np.array([p.sigma_x, p.sigma_y, p.theta, p.scale, p.noise_sigma, *shift], dtype=np.float64)
    ints = np.array([p.branch, p.kernel == "aniso", p.jpeg_quality, p.noise_seed, p.color_shift is not None, p.gray,
                     p.kernel_size], dtype=np.int64)
    return torch.from_numpy(np.concatenate([ints, floats.view(np.int64)]))


def unpack_params(packed: torch.Tensor) -> list[DegradationParams]:
    """(N, PACKED_LEN) from `pack_params` (on any device) -> the N DegradationParams, bit for bit."""
    rows = np.ascontiguousarray(packed.detach().cpu().numpy().astype(np.int64, copy=False).reshape(-1, PACKED_LEN))
    ints, floats = rows[:, : len(_PACKED_INTS)], np.ascontiguousarray(rows[:, len(_PACKED_INTS):]).view(np.float64)
    out = []
    for i, f in zip(ints.tolist(), floats.tolist()):
        branch, aniso, quality, noise_seed, has_shift, gray, kernel_size = i
        out.append(DegradationParams(branch=branch, kernel="aniso" if aniso else "iso", sigma_x=f[0], sigma_y=f[1],
                                     theta=f[2], scale=f[3], noise_sigma=f[4], jpeg_quality=quality,
                                     noise_seed=noise_seed, color_shift=tuple(f[5:8]) if has_shift else None,
                                     gray=bool(gray), kernel_size=kernel_size))
    return out


def gray_target(hq: np.ndarray) -> np.ndarray:
    # as the peers' `gt_gray` (cvtColor to gray, tiled to 3 channels); on the 8-bit face, so within half a level of
    # their float conversion
    return np.repeat(cv2.cvtColor(hq, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)


class DegradedFaces(Dataset):
    """Items are addressed by (epoch, index): the HQ face `index`, degraded with the draw for that epoch."""

    def __init__(self, paths: list[Path], pipeline: DegradationPipeline, size: int, flip: bool = True,
                 lq_per_branch: bool = False, defer: bool = False):
        self.paths = list(paths)
        self.pipeline = pipeline
        self.size = size
        self.flip = flip
        self.lq_per_branch = lq_per_branch  # items carry every branch's LQ: lq (branch 0), lq_b1, ...
        # defer: items carry the parameters instead of the LQ (DEFERRED_KEY), degraded later by `degrade_deferred`;
        # with a gt_gray branch that can draw gray, also the colour face the LQ is made from (SOURCE_KEY)
        self.defer = defer
        self.gray_targets = not lq_per_branch and any(b.gt_gray and b.gray_prob > 0 for b in pipeline.preset.branches)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (VAL_EPOCH, key)
        hq = read_face(self.paths[index], size=self.size)
        rng = sample_rng(self.pipeline.seed, epoch, index, STREAM_FLIP)
        if self.flip and rng.random() < 0.5:
            hq = np.ascontiguousarray(hq[:, ::-1])
        if self.defer:
            return self._deferred(hq, index, epoch)
        if self.lq_per_branch:
            lqs = self.pipeline.branch_lq(hq, index, epoch)
            item = {f"lq_b{i}": to_tensor(lq) for i, lq in enumerate(lqs[1:], start=1)}
            return {"lq": to_tensor(lqs[0]), **item, "hq": to_tensor(hq), "index": index}
        lq, params = self.pipeline(hq, index, epoch)
        if self.pipeline.gray_target(params):
            hq = gray_target(hq)
        return {"lq": to_tensor(lq), "hq": to_tensor(hq), "index": index}

    def _deferred(self, hq: np.ndarray, index: int, epoch: int) -> dict[str, Any]:
        """The item without its LQ: the parameters the CPU path would degrade it with, drawn from the same
        generators (`DegradationPipeline.__call__` and `branch_lq`), and the same target."""
        if self.lq_per_branch:
            draws = [sample_branch_params(self.pipeline.preset, b, sample_rng(self.pipeline.seed, epoch, index,
                                                                              STREAM_BRANCH + b))
                     for b in range(len(self.pipeline.preset.branches))]
            deferred = {("lq" if b == 0 else f"lq_b{b}"): pack_params(p) for b, p in enumerate(draws)}
            return {"hq": to_tensor(hq), "index": index, DEFERRED_KEY: deferred}
        params = self.pipeline.params_for(index, epoch)
        target = gray_target(hq) if self.pipeline.gray_target(params) else hq
        item = {"hq": to_tensor(target), "index": index, DEFERRED_KEY: {"lq": pack_params(params)}}
        if self.gray_targets:
            item[SOURCE_KEY] = to_tensor(hq)
        return item


def degrade_deferred(batch: Any, blur: str) -> Any:
    """`batch` with every deferred part (a dict holding DEFERRED_KEY, at any depth of a dict of loaders' batches)
    degraded where its tensors are, by `degradation_torch.degrade_batch` (JPEG through the real codec, the CPU path's
    noise): its LQ keys first, then the rest, as the CPU path's items. Anything else is returned as it is."""
    if not isinstance(batch, dict):
        return batch
    if DEFERRED_KEY not in batch:
        return {k: degrade_deferred(v, blur) for k, v in batch.items()} if any(
            isinstance(v, dict) for v in batch.values()) else batch
    from bfrbench.data.degradation_torch import degrade_batch

    source = batch.get(SOURCE_KEY, batch["hq"])
    if blur == "fft64" and source.device.type == "mps":
        raise ConfigError("data.degrade_on: gpu with data.fast_blur: false needs float64, which MPS lacks",
                          fix="set data.fast_blur: true (the blur in float32), or data.degrade_on: cpu")
    with torch.no_grad():
        lqs = {key: degrade_batch(source, unpack_params(packed), jpeg=TORCH_JPEG, noise=torch_noise(blur), blur=blur)
               for key, packed in batch[DEFERRED_KEY].items()}
    return {**lqs, **{k: v for k, v in batch.items() if k not in (DEFERRED_KEY, SOURCE_KEY)}}


class RealLQFaces(Dataset):
    """Unpaired real low-quality faces (no ground truth), e.g. for learning real degradations."""

    def __init__(self, refs: list, size: int, seed: int, flip: bool = True):
        self.refs, self.size, self.seed, self.flip = list(refs), size, seed, flip

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (VAL_EPOCH, key)
        lq = read_face(self.refs[index], size=self.size)
        if self.flip and sample_rng(self.seed, epoch, index, STREAM_FLIP).random() < 0.5:
            lq = np.ascontiguousarray(lq[:, ::-1])
        return {"lq": to_tensor(lq), "index": index}


def real_lq_refs(spec: str, faces_dir: Path) -> list:
    """`split:<name>` takes a split of the prepared face set; anything else is a folder of LQ faces."""
    from bfrbench.data.faces import face_paths
    from bfrbench.io.images import list_images

    if spec.startswith("split:"):
        return face_paths(faces_dir, spec.split(":", 1)[1])
    return list_images(spec)


class EpochIndexSampler(Sampler):
    """Yields (epoch, index) pairs: a seeded permutation per epoch, sharded across ranks without padding gaps."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch = 0
        self.skip = 0  # samples of this rank's share to skip on the next pass (set by ResumableLoader)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @staticmethod
    def _rank_world() -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.arange(self.n)
        if self.shuffle:
            order = sample_rng(self.seed, self.epoch, 0, STREAM_ORDER).permutation(self.n)
        rank, world = self._rank_world()
        per_rank = math.ceil(self.n / world)
        padded = np.concatenate([order, order[: per_rank * world - self.n]])  # every rank gets as many, like DDP
        skip, self.skip = self.skip, 0  # a resumed run starts where the checkpoint left this epoch
        for index in padded[rank::world][skip:]:
            yield (self.epoch, int(index))

    def __len__(self) -> int:
        _, world = self._rank_world()
        return math.ceil(self.n / world)


_BLAS = None  # threadpoolctl's controller, found once per process


@contextmanager
def one_thread() -> Iterator[None]:
    """torch, OpenBLAS and OpenCV on one thread for a block of per-sample work, as loader workers run it
    (`_worker_init`), then back to the process's settings.

    Why: with `data.num_workers: 0` (the smoke profile: spawned workers cost seconds each to start) the training
    process makes its batches itself, between steps that use every core. A 128 px sample is many small ops (FFT,
    sgemm, divide); each wakes the intra-op thread pools, and on a 2-core box with the other core busy that wake-up
    costs more than the op: 9.9 ms a sample on the default 2 threads against 1.1 ms on one (codeformer_stage2
    preset at 128 px, a loop over DegradationPipeline, 2026-12-06). The bytes do not change: every
    per-sample op is computed the same on one thread (workers already run them so)."""
    from threadpoolctl import ThreadpoolController

    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        with _BLAS.limit(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv2_threads)


class _OneThreadBatches:
    """The single-process loader iterator, each batch (its samples and their collation) made under `one_thread`."""

    def __init__(self, iterator):
        self.iterator = iterator

    def __iter__(self):
        return self

    def __next__(self):
        with one_thread():
            return next(self.iterator)

    def __len__(self) -> int:
        return len(self.iterator)


class OneThreadLoader(DataLoader):
    """A DataLoader whose batches, when it has no workers, are made on one thread (`one_thread`)."""

    def __iter__(self):
        iterator = super().__iter__()
        return iterator if self.num_workers > 0 else _OneThreadBatches(iterator)


class ResumableLoader(OneThreadLoader):
    """A DataLoader Lightning can save and restore mid-epoch (it calls `state_dict`/`load_state_dict`).

    Why: Lightning re-iterates a plain DataLoader from the start of the epoch on resume, so an interrupted run would
    see other samples than an uninterrupted one. The state is the number of batches training has consumed
    (`position()`, read from the trainer when the checkpoint is written: a prefetching iterator is ahead of it); on
    load the sampler moves to that batch's epoch and skips the batches already seen."""

    def __init__(self, *args, position=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.position = position

    def state_dict(self) -> dict[str, int]:
        consumed, per_epoch = self.position() if self.position else (0, len(self))
        return {"consumed": int(consumed), "per_epoch": int(per_epoch)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        epoch, within = divmod(int(state["consumed"]), max(1, int(state["per_epoch"])))
        self.sampler.set_epoch(epoch)
        # a shorter loader of a combined (max_size_cycle) pair has cycled: its position is within its own length
        self.sampler.skip = (within % max(1, len(self))) * int(self.batch_size)


def _worker_init(_: int) -> None:
    # Workers with machine-wide torch/OpenCV thread pools oversubscribe the cores (measured: docs/performance.md).
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


# The `data` block of every training stage's config (a method may change these defaults; unknown keys raise).
DATA_DEFAULTS: dict[str, Any] = {
    "degradation": {"preset": "codeformer_stage2"},
    "batch_size": 8,
    "num_workers": 0,
    "val_count": 16,
    "flip": True,
    "worker_start": "spawn",
    "fast_blur": True,
    "extra_pairs": None,  # a folder of offline (lq/, hq/) pairs added to the online draws ("+O/F")
    "real_lq": None,  # unpaired real LQ faces: `split:<name>` of the face set, or a folder
    # every sample degraded once per preset branch (lq = branch 0, lq_b1 = branch 1, ...) instead of one branch
    # drawn per sample: CodeFormer stage III picks mild or large per iteration, as its official trainer
    "lq_per_branch": False,
    # real degraded/clean pairs of non-face sets (FLIPNET's Degradation mode): a list of {name, kind, root} read by
    # bfrbench.data.real_pairs, served as a second loader; null = none. Crops are `size` px.
    "real_pairs": None,
    "real_pairs_batch_size": None,  # the real-pair loader's batch (null: batch_size)
    # where the training LQ is synthesised: null/"cpu" in the loader workers (numpy), "gpu" on the training device
    # (batched torch; docs/degradation_torch.md). Null, not "cpu": reference curves' config digests skip nulls.
    "degrade_on": None,
}


class BFRDataModule(L.LightningDataModule):
    """HQ folder -> (LQ, HQ) batches: on-the-fly degradation for training, a fixed degraded val set."""

    @classmethod
    def from_config(cls, faces_dir: str | Path, size: int, seed: int, data: dict[str, Any],
                    where: str = "data") -> BFRDataModule:
        """Build from a stage config's `data` block (merged over DATA_DEFAULTS; an unknown key is an error)."""
        from bfrbench.config import merge_known

        d = merge_known(DATA_DEFAULTS, data, where)
        return cls(faces_dir, size, d["degradation"], seed, d["batch_size"], d["num_workers"], d["val_count"],
                   d["flip"], d["worker_start"], real_lq=d["real_lq"], fast_blur=d["fast_blur"],
                   extra_pairs=d["extra_pairs"], lq_per_branch=d["lq_per_branch"], real_pairs=d["real_pairs"],
                   real_pairs_batch_size=d["real_pairs_batch_size"], degrade_on=d["degrade_on"])

    def __init__(
        self,
        faces_dir: str | Path,
        size: int,
        degradation: Any,
        seed: int,
        batch_size: int = 8,
        num_workers: int = 0,
        val_count: int = 16,
        flip: bool = True,
        worker_start: str = "spawn",
        real_lq: str | None = None,
        fast_blur: bool = True,
        extra_pairs: str | None = None,
        lq_per_branch: bool = False,
        real_pairs: list[dict[str, Any]] | None = None,
        real_pairs_batch_size: int | None = None,
        degrade_on: str | None = None,
    ) -> None:
        super().__init__()
        if worker_start not in ("spawn", "forkserver", "fork"):
            raise BFRBenchError(f"data.worker_start: {worker_start!r}", fix="use spawn, forkserver or fork")
        if degrade_on is not None and degrade_on not in DEGRADE_ON:
            raise ConfigError(f"data.degrade_on: {degrade_on!r} is not one of {', '.join(DEGRADE_ON)}",
                              fix="cpu (null, the default): in the loader workers; gpu: on the training device")
        self.degrade_on = degrade_on or "cpu"
        if self.degrade_on == "gpu" and extra_pairs:
            raise ConfigError("data.degrade_on: gpu with data.extra_pairs: the offline pairs are degraded already and "
                              "a batch mixes them with online draws", fix="use data.degrade_on: cpu with extra_pairs")
        # OpenCV's thread pool does not survive fork: a forked worker of a process that already ran OpenCV code
        # can hang. Spawned workers cost a few seconds once (persistent_workers) and never hang.
        self.worker_start = worker_start
        self.real_lq = real_lq
        self.fast_blur = fast_blur
        self.extra_pairs = extra_pairs  # a folder of offline (lq/, hq/) pairs added to the online draws ("+O/F")
        self.lq_per_branch = lq_per_branch
        self.real_pairs = [dict(s) for s in real_pairs] if real_pairs else None
        self.real_pairs_batch_size = int(real_pairs_batch_size or batch_size)
        if real_pairs is not None and not isinstance(real_pairs, list):
            raise BFRBenchError(f"data.real_pairs: {real_pairs!r}",
                                fix="a list of {name, kind, root} sets (docs/datasets.md, real degradation pairs)")
        if lq_per_branch and extra_pairs:
            raise BFRBenchError("data.lq_per_branch and data.extra_pairs together", fix="use one of them")
        self.faces_dir = Path(faces_dir)
        self.size, self.degradation, self.seed = size, degradation, seed
        self.batch_size, self.num_workers, self.val_count, self.flip = batch_size, num_workers, val_count, flip
        # Plain types only: checkpoints are loaded with torch.load(weights_only=True).
        self.save_hyperparameters({"faces_dir": str(faces_dir), "size": size, "degradation": degradation, "seed": seed,
                                   "batch_size": batch_size, "num_workers": num_workers, "val_count": val_count,
                                   "flip": flip, "worker_start": worker_start,
                                   "real_lq": real_lq, "fast_blur": fast_blur, "extra_pairs": extra_pairs,
                                   "lq_per_branch": lq_per_branch, "real_pairs": self.real_pairs,
                                   "real_pairs_batch_size": real_pairs_batch_size, "degrade_on": degrade_on})

    @property
    def torch_blur(self) -> str:
        """degradation_torch's blur for degrade_on: gpu. `data.fast_blur` (training draws may trade bit-exactness
        for speed) picks the float32 FFT, as it picks the fast blur on the CPU; otherwise float64, the exact one."""
        return "fft32" if self.fast_blur else "fft64"

    @property
    def degradation_path(self) -> str:
        """Where and how the training LQ is made, as the model card states it."""
        return torch_path(self.torch_blur) if self.degrade_on == "gpu" else CPU_PATH

    def setup(self, stage: str | None = None) -> None:
        from bfrbench.data.faces import face_paths

        # Training draws may use the fast blur; the validation set is made exactly like the test sets.
        train_pipe = DegradationPipeline.from_config(self.degradation, seed=self.seed, fast_blur=self.fast_blur)
        val_pipe = DegradationPipeline.from_config(self.degradation, seed=self.seed)
        train_paths = face_paths(self.faces_dir, "train")
        # train_set's items are complete (the CPU path), for readers outside the Lightning loop (FLIPNET's smoke
        # backbone pre-fit); with degrade_on: gpu the training loader serves the same samples without their LQ
        self.train_set = DegradedFaces(train_paths, train_pipe, self.size, flip=self.flip,
                                       lq_per_branch=self.lq_per_branch)
        self.val_set = DegradedFaces(face_paths(self.faces_dir, "val")[: self.val_count], val_pipe, self.size, False,
                                     lq_per_branch=self.lq_per_branch)
        if len(self.train_set) == 0:
            raise BFRBenchError(f"{self.faces_dir}: the train split is empty", fix="prepare the faces first")
        if self.extra_pairs:
            from bfrbench.data.offline_pairs import OfflinePairs, OnlinePlusOffline

            self.train_set = OnlinePlusOffline(self.train_set, OfflinePairs(self.extra_pairs, self.size, self.seed,
                                                                            self.flip))
        self.train_loader_set: Dataset = self.train_set
        if self.degrade_on == "gpu":  # (never with extra_pairs: __init__ refuses it)
            self.train_loader_set = DegradedFaces(train_paths, train_pipe, self.size, flip=self.flip,
                                                  lq_per_branch=self.lq_per_branch, defer=True)
        self.real_lq_set = None
        if self.real_lq:
            refs = real_lq_refs(self.real_lq, self.faces_dir)
            if not refs:
                raise BFRBenchError(f"real_lq {self.real_lq!r}: no faces found", fix="check the folder or split name")
            self.real_lq_set = RealLQFaces(refs, self.size, self.seed, flip=self.flip)
        self.real_pairs_set = None
        if self.real_pairs:
            from bfrbench.data.real_pairs import RealPairs

            missing = [str(s.get("root")) for s in self.real_pairs if isinstance(s, dict) and s.get("root")
                       and not Path(s["root"]).is_dir()]
            if missing:  # every missing folder at once, before reading any
                raise BFRBenchError(f"data.real_pairs: {len(missing)} folder(s) missing: {', '.join(missing)}",
                                    fix="download the real pair sets (docs/datasets.md, real degradation pairs) "
                                        "or remove them from data.real_pairs")
            self.real_pairs_set = RealPairs(self.real_pairs, self.size, self.seed, flip=self.flip)

    def _position(self) -> tuple[int, int]:
        """(training batches consumed so far, batches per epoch), for ResumableLoader's checkpoint state."""
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return trainer.fit_loop.epoch_loop.batch_progress.total.processed, int(trainer.num_training_batches)

    def _loader(self, dataset: Dataset, seed_offset: int = 0, batch_size: int | None = None) -> DataLoader:
        sampler = EpochIndexSampler(len(dataset), self.seed + seed_offset)
        batch_size = batch_size or self.batch_size
        return ResumableLoader(
            dataset,
            position=self._position,
            generator=self._loader_generator(),
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            worker_init_fn=_worker_init,
            # Full batches only, unless this process's share is smaller than one batch: then that short batch, never
            # an empty loader (Lightning cycles the shorter loaders of a combined pair, and an empty one never ends).
            drop_last=len(sampler) >= batch_size,
            persistent_workers=self.num_workers > 0,
            multiprocessing_context=self.worker_start if self.num_workers > 0 else None,
        )

    def train_dataloader(self):
        """Paired (LQ, HQ) batches; with `real_lq` or `real_pairs` set, a dict {"paired": ..., "real_lq": ...,
        "real_pairs": ...} of loaders (Lightning cycles the shorter ones)."""
        paired = self._loader(self.train_loader_set)
        if self.real_lq_set is None and self.real_pairs_set is None:
            return paired
        loaders = {"paired": paired}
        if self.real_lq_set is not None:
            loaders["real_lq"] = self._loader(self.real_lq_set, seed_offset=1)
        if self.real_pairs_set is not None:
            loaders["real_pairs"] = self._loader(self.real_pairs_set, seed_offset=2,
                                                 batch_size=self.real_pairs_batch_size)
        return loaders

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """degrade_on: gpu: Lightning calls this with every batch once it is on the module's device; the deferred
        training faces are degraded there (`degrade_deferred`). Validation and real-LQ batches pass unchanged."""
        return degrade_deferred(batch, self.torch_blur) if self.degrade_on == "gpu" else batch

    def _loader_generator(self) -> torch.Generator:
        """Each loader's own generator. Why: creating a DataLoader iterator draws a seed from the generator it is
        given, else from torch's GLOBAL one; a resumed run creates an iterator mid-epoch that the uninterrupted run
        did not, so the training step's random draws (diffusion timesteps, noise) would shift. The samples
        themselves never depend on it (they come from (seed, epoch, index))."""
        return torch.Generator().manual_seed(int(self.seed))

    def val_dataloader(self) -> DataLoader:
        return OneThreadLoader(
            self.val_set, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers,
            generator=self._loader_generator(),
            worker_init_fn=_worker_init, multiprocessing_context=self.worker_start if self.num_workers > 0 else None,
        )
