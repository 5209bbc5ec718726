"""MLflow sample grids: what a training stage and a restore log, and that logging them changes no trained byte.

Each test logs to an MLflow experiment of its own (in the session's sqlite store), created with its artifact folder in
the test's tmp folder: by default a sqlite store puts artifacts under `./mlruns` of the folder the process started
the store in, i.e. the working copy.
"""

from __future__ import annotations

import contextlib
import json
import random

import lightning as L
import mlflow
import numpy as np
import pytest
import torch

from bfrbench.io.image_grid import LABEL_HEIGHT, PAD, image_grid
from bfrbench.io.images import read_image, write_image
from bfrbench.methods.base import StageContext
from bfrbench.methods.registry import get_method
from bfrbench.methods.unet_l1 import UNetL1
from bfrbench.methods.unet_l1_module import UNetL1Module
from bfrbench.tracking import stage_run
from bfrbench.training.stage import TrainPlan, merged_config, run_stage, stage_datamodule

SIZE = 16
TINY = {
    "model": {"channels": [8, 16]},
    "optim": {"lr": 0.003},
    "data": {"batch_size": 4, "val_count": 4},
    # 12 training faces in batches of 4; validation at steps 2 and 4 (and the sanity check, which logs no grid)
    "trainer": {"max_steps": 4, "log_every_n_steps": 1, "checkpoint_every_n_steps": 2, "val_every_n_steps": 2},
}


def _config(sample_faces: int | None) -> dict:
    trainer = {**TINY["trainer"], **({} if sample_faces is None else {"sample_faces": sample_faces})}
    return {**TINY, "trainer": trainer}


@pytest.fixture
def profile(tmp_path) -> str:
    """A profile name whose experiment `bfrbench-<profile>` keeps its artifacts in tmp_path/mlruns."""
    from bfrbench.tracking import EXPERIMENT_PREFIX, tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    mlflow.MlflowClient().create_experiment(f"{EXPERIMENT_PREFIX}-{tmp_path.name}",
                                            artifact_location=(tmp_path / "mlruns").as_uri())
    return tmp_path.name


def _train(method, faces, root, config, profile, callbacks=None):
    """One training stage through the stage runner, logged to a fresh MLflow run; (its out folder, run id)."""
    cfg = merged_config(method, "train", config, "test")
    out = root / "models" / "unet_l1" / "train"
    ctx = StageContext("unet_l1", "train", cfg, {}, faces, out, out.parent, seed=3, size=SIZE, progress=False,
                       extras={"work_root": root / "work", **({"callbacks": callbacks} if callbacks else {})})
    with stage_run("train/unet_l1/train", profile, {}) as run:
        ctx.logger = run
        run_stage(method, ctx)
    return out, run.run_id


def _samples(run_id: str) -> list[str]:
    return sorted(f.path for f in mlflow.MlflowClient().list_artifacts(run_id, "samples"))


def _download(run_id: str, path: str, dst) -> np.ndarray:
    dst.mkdir(parents=True, exist_ok=True)
    return read_image(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst)))


def _tile(grid: np.ndarray, row: int, col: int, size: int) -> np.ndarray:
    y, x = LABEL_HEIGHT + PAD + row * (size + PAD), PAD + col * (size + PAD)
    return grid[y:y + size, x:x + size]


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return x.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def _stage_bytes(out) -> dict:
    """Every file of a stage's folder, the card without its `config` (where the two runs' sample_faces differ)."""
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    card = json.loads(files.pop("card.json"))
    assert card["config"]["trainer"].pop("sample_faces", 0) in (0, 4)
    return {**files, "card.json": card}


@pytest.fixture
def faces(tmp_path):
    from conftest import make_face_set

    return make_face_set(tmp_path / "faces", size=SIZE)


def test_training_logs_a_grid_per_validation_and_the_same_bytes(faces, profile, tmp_path):
    method = get_method("unet_l1")
    out, run_id = _train(method, faces, tmp_path / "a", _config(None), profile)  # the default: 4 faces
    assert _samples(run_id) == ["samples/step0000002.png", "samples/step0000004.png"]  # no sanity-check grid
    grid = _download(run_id, "samples/step0000004.png", tmp_path / "dl")
    rows, cols = 4, 3  # the 4 validation faces; LQ | output | HQ
    assert grid.shape == (LABEL_HEIGHT + rows * SIZE + (rows + 1) * PAD, cols * SIZE + (cols + 1) * PAD, 3)

    # the rows are the validation set's first faces, the output column the network of that step (the final one)
    blob = torch.load(out / "model.pt", weights_only=True)
    net = UNetL1Module(blob["config"]["channels"], 0.0, 0.0).net
    net.load_state_dict(blob["state_dict"])
    dm = stage_datamodule(StageContext("unet_l1", "train", TINY, {}, faces, out, out.parent, seed=3, size=SIZE))
    dm.setup("fit")
    for i in range(rows):
        item = dm.val_set[i]
        with torch.no_grad():
            pred = _to_uint8(net.eval()(item["lq"][None])[0])
        assert np.array_equal(_tile(grid, i, 0, SIZE), _to_uint8(item["lq"]))
        assert np.abs(_tile(grid, i, 1, SIZE).astype(int) - pred).max() <= 1
        assert np.array_equal(_tile(grid, i, 2, SIZE), _to_uint8(item["hq"]))
    assert not any(p.suffix == ".png" for p in (tmp_path / "a").rglob("*")), "a grid was written outside MLflow"
    assert (tmp_path / "mlruns").is_dir()

    # the same stage with the grids off: no samples, and the same weights, loss curve and card
    out_off, run_off = _train(method, faces, tmp_path / "b", _config(0), profile)
    assert _samples(run_off) == []
    assert _stage_bytes(out_off) == _stage_bytes(out)


class NoisyUNet(UNetL1Module):
    """Training draws from torch's global generator every step (as diffusion stages do), and so does the grid hook
    (as a sampler would): if the hook's draws reached training, the weights would change."""

    def training_step(self, batch, batch_idx):
        noisy = batch["lq"] + 0.1 * torch.randn_like(batch["lq"])
        loss = torch.nn.functional.l1_loss(self.net(noisy), batch["hq"])
        self.log("train/l1", loss)
        return loss

    def validation_images(self, batch):
        torch.rand(100), np.random.rand(3), random.random()
        return super().validation_images(batch)


class NoisyMethod(UNetL1):
    def plan(self, ctx) -> TrainPlan:
        cfg = ctx.config
        module = NoisyUNet(cfg["model"]["channels"], cfg["optim"]["lr"], cfg["optim"]["weight_decay"])
        return TrainPlan(module, lambda m: {"model.pt": m.net.state_dict()})


class LeakyAfterValidation(L.Callback):
    """Control: draws from the global generator after validation, past IsolatedValidationRNG."""

    def on_validation_end(self, trainer, pl_module):
        torch.rand(100)


def test_a_hook_that_draws_random_numbers_changes_no_weight(faces, profile, tmp_path):
    method = NoisyMethod()
    out, run_id = _train(method, faces, tmp_path / "a", _config(4), profile)
    assert _samples(run_id) == ["samples/step0000002.png", "samples/step0000004.png"]
    out_off, _ = _train(method, faces, tmp_path / "b", _config(0), profile)
    assert (out_off / "model.pt").read_bytes() == (out / "model.pt").read_bytes()
    # the comparison can fail: one draw that escapes validation changes the weights
    out_leak, _ = _train(method, faces, tmp_path / "c", _config(0), profile,
                         callbacks=[LeakyAfterValidation()])
    assert (out_leak / "model.pt").read_bytes() != (out / "model.pt").read_bytes()


def test_no_grid_without_mlflow(faces, tmp_path, monkeypatch):
    """BFRBENCH_NO_MLFLOW=1 (preflight's subprocesses): no logger, so the callback does nothing and writes nothing."""
    monkeypatch.setenv("BFRBENCH_NO_MLFLOW", "1")
    method = get_method("unet_l1")
    cfg = merged_config(method, "train", _config(4), "test")
    out = tmp_path / "a" / "models" / "unet_l1" / "train"
    run_stage(method, StageContext("unet_l1", "train", cfg, {}, faces, out, out.parent, seed=3, size=SIZE,
                                   progress=False, extras={"work_root": tmp_path / "a" / "work"}))
    assert (out / "model.pt").is_file()
    assert not any(p.suffix == ".png" for p in tmp_path.rglob("*") if "faces" not in p.parts)


def test_sample_faces_must_be_a_count():
    from bfrbench.errors import ConfigError
    from bfrbench.training.trainer import trainer_config

    assert trainer_config({})["sample_faces"] == 4
    for bad in (-1, 2.5, True, "4"):
        with pytest.raises(ConfigError, match="sample_faces"):
            trainer_config({"sample_faces": bad})


def test_image_grid_layout():
    a = np.full((8, 8, 3), 10, np.uint8)
    small = np.full((4, 4, 3), 200, np.uint8)  # enlarged to the largest tile, nearest-neighbour
    grid = image_grid([[a, small], [small, a]], ["LQ", "output"])
    assert grid.shape == (LABEL_HEIGHT + 2 * 8 + 3 * PAD, 2 * 8 + 3 * PAD, 3)
    assert (_tile(grid, 0, 0, 8) == 10).all() and (_tile(grid, 0, 1, 8) == 200).all()
    assert (_tile(grid, 1, 0, 8) == 200).all() and (_tile(grid, 1, 1, 8) == 10).all()
    assert (grid[LABEL_HEIGHT:LABEL_HEIGHT + PAD] == 255).all()
    assert image_grid([[a]], max_tile=4).shape == (4 + 2 * PAD, 4 + 2 * PAD, 3)
    with pytest.raises(ValueError, match="labels"):
        image_grid([[a, a]], ["one"])
    with pytest.raises(ValueError, match="rows"):
        image_grid([[a, a], [a]])


# --- restore -------------------------------------------------------------------------------------------------------

def _restore_set(root, n, with_gt):
    rng = np.random.default_rng(0)
    for i in range(n):
        hq = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        write_image(root / "lq" / f"f{i}.png", (hq // 2).astype(np.uint8))
        if with_gt:
            write_image(root / "hq" / f"f{i}.png", hq)
    return root / "lq"


def _unet_models(root):
    from bfrbench.archs.unet import PlainUNet

    torch.manual_seed(0)
    (root / "train").mkdir(parents=True)
    torch.save({"config": {"channels": [8, 16]}, "state_dict": PlainUNet(channels=(8, 16)).state_dict()},
               root / "train" / "model.pt")
    return root


@pytest.mark.parametrize("with_gt", [True, False])
def test_restore_logs_a_grid_of_the_first_faces(with_gt, profile, tmp_path):
    from bfrbench.stages.restore import run_restore

    lq = _restore_set(tmp_path / "testsets" / "syn", 6, with_gt)
    out = tmp_path / "results"
    run_restore("unet_l1", lq, out, _unet_models(tmp_path / "models"), batch_size=4, progress=False,
                profile=profile, testset="syn")
    runs = mlflow.search_runs(experiment_names=[f"bfrbench-{profile}"], output_format="list")
    assert len(runs) == 1
    run_id = runs[0].info.run_id
    assert _samples(run_id) == ["samples/syn_grid.png"]
    grid = _download(run_id, "samples/syn_grid.png", tmp_path / "dl")
    rows, cols = 4, 3 if with_gt else 2  # the first 4 of 6 faces; LQ | restored (| GT)
    assert grid.shape == (LABEL_HEIGHT + rows * SIZE + (rows + 1) * PAD, cols * SIZE + (cols + 1) * PAD, 3)
    for i in range(rows):
        assert np.array_equal(_tile(grid, i, 0, SIZE), read_image(lq / f"f{i}.png"))
        assert np.array_equal(_tile(grid, i, 1, SIZE), read_image(out / f"f{i}.png"))
        if with_gt:
            assert np.array_equal(_tile(grid, i, 2, SIZE), read_image(lq.parent / "hq" / f"f{i}.png"))
    assert not np.array_equal(read_image(out / "f0.png"), read_image(lq / "f0.png"))  # the columns differ


# --- each stage's hook -----------------------------------------------------------------------------------------------

def _unet():
    return UNetL1Module([8, 16], 1e-3, 0.0)


def _codeformer(stage):
    from bfrbench.methods.codeformer.modules import CodePredictionStage, VQGANStage

    vq = {"img_size": 32, "nf": 8, "ch_mult": [1, 2], "res_blocks": 1, "attn_resolutions": [16], "codebook_size": 16,
          "emb_dim": 8, "norm_groups": 4}
    opt, losses = {"lr": 1e-3, "betas": [0.9, 0.99]}, {"l1": 1, "lpips": 0, "lpips_weights": "official",
                                                        "codebook": 1, "gan": 0, "disc_weight": 0.8}
    vqgan = VQGANStage(vq, {"ndf": 8, "n_layers": 2}, opt, losses, 0.9, 0)
    if stage == "vqgan":
        return vqgan
    arch = {**vq, "dim_embd": 16, "n_head": 2, "n_layers": 1, "connect_list": ["32"]}
    return CodePredictionStage(arch, vqgan.net.state_dict(), opt, {"ce": 0.5, "feat": 1.0}, 0.9)


def _difface_estimator():
    from bfrbench.methods.difface.modules import EstimatorStage

    arch = {"img_size": 4, "embed_dim": 24, "depths": [2], "num_heads": [4], "window_size": 4, "mlp_ratio": 2.0,
            "sf": 8}
    return EstimatorStage(arch, 1e-3, 1e-5)


def _flipnet_embed_ae():
    from bfrbench.methods.flipnet.embedding_module import EmbedAEModule

    return EmbedAEModule({"channels": [8, 16], "dim": 8, "disc_channels": [8, 16]},
                         {"l1": 1.0, "perceptual": 0.0, "adversarial": 0.1, "adversarial_start": 0},
                         {"weights": "random", "layers": ["relu1_2"]}, {"lr": 1e-3, "lr_disc": 1e-3}, 0, 32)


TINY_CLR_VQ = {"channels": [8, 8, 16], "downsample": 4, "embed_dim": 2, "codebook_size": 16, "res_blocks": 1,
               "beta": 0.25}


def _clrface(stage):
    from bfrbench.methods.clrface.config import default_config
    from bfrbench.methods.clrface.identity_module import IdentityModule
    from bfrbench.methods.clrface.vqgan import VQGAN
    from bfrbench.methods.clrface.vqgan_module import VQGANModule
    from bfrbench.nets.dlib_resnet import DlibResNet

    if stage == "vqgan":
        loss = {**default_config("vqgan")["loss"], "perceptual_weight": 0.0,
                "discriminator": {"channels": 8, "layers": 2}}
        return VQGANModule(TINY_CLR_VQ, loss, {"lr": 1e-3, "lr_disc": 1e-3}, None)
    return IdentityModule(VQGAN(**TINY_CLR_VQ), DlibResNet(), DlibResNet(), (8, 8), default_config("identity")["loss"],
                          {"irn_lr": 1e-3, "mask_lr": 0.1, "weight_decay": 0.0})


HOOKS = {  # stage -> (tiny module, the grid's columns)
    "unet_l1/train": (_unet, ["LQ", "output", "HQ"]),
    "codeformer/vqgan": (lambda: _codeformer("vqgan"), ["HQ (input)", "reconstruction"]),
    "codeformer/transformer+cft": (lambda: _codeformer("transformer"), ["LQ", "output", "HQ"]),
    "difface/estimator": (_difface_estimator, ["LQ", "output", "HQ"]),
    "flipnet/embed_ae": (_flipnet_embed_ae, ["LQ", "LQ reconstruction", "HQ reconstruction", "HQ"]),
    "clrface/vqgan": (lambda: _clrface("vqgan"), ["HQ (input)", "reconstruction"]),
    "clrface/identity": (lambda: _clrface("identity"), ["LQ", "LQ latent", "mask mix", "HQ"]),
}


@pytest.mark.parametrize("stage", sorted(HOOKS))
def test_each_image_stage_shows_its_output_and_changes_nothing(stage):
    from bfrbench.training.callbacks import capture_rng
    from bfrbench.training.sample_grid import to_uint8_images

    build, columns = HOOKS[stage]
    torch.manual_seed(0)
    module = build().eval()
    g = torch.Generator().manual_seed(1)
    hq = torch.rand(2, 3, 32, 32, generator=g)
    batch = {"hq": hq, "lq": (hq + 0.2 * torch.rand(2, 3, 32, 32, generator=g)).clamp(0, 1), "index": torch.arange(2)}
    before = {k: v.clone() for k, v in module.state_dict().items()}
    rng = capture_rng()
    with torch.no_grad():
        images = module.validation_images(batch)
    assert list(images) == columns
    for label, x in images.items():
        assert x.shape == (2, 3, 32, 32) and torch.isfinite(x).all(), (label, x.shape)
        assert to_uint8_images(x, label).shape == (2, 32, 32, 3)
    outputs = [x for label, x in images.items() if label not in ("LQ", "HQ", "HQ (input)")]
    assert all(not torch.equal(x, hq) and not torch.equal(x, batch["lq"]) for x in outputs)  # computed, not copied
    after = module.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not module.training
    assert torch.equal(capture_rng()["torch"], rng["torch"])


def test_stages_without_image_output_log_no_grid(profile, caplog):
    """A diffusion prior or an embedding has no image without a full sampler: no hook, no grid, one debug line."""
    import logging
    from types import SimpleNamespace

    from lightning.pytorch.loggers import MLFlowLogger

    from bfrbench.methods.clrface.prior_module import LatentPriorModule
    from bfrbench.methods.difface.modules import PriorStage
    from bfrbench.methods.flipnet.diffusion_module import FlipNetDiffusionModule
    from bfrbench.methods.flipnet.embedding_module import EmbedAlignModule
    from bfrbench.tracking import tracking_uri
    from bfrbench.training.sample_grid import SampleGrid

    for cls in (PriorStage, LatentPriorModule, EmbedAlignModule, FlipNetDiffusionModule):
        assert not hasattr(cls, "validation_images"), cls
    logger = MLFlowLogger(experiment_name=f"bfrbench-{profile}", tracking_uri=tracking_uri())
    trainer = SimpleNamespace(is_global_zero=True, sanity_checking=False, loggers=[logger], global_step=2)
    batch = {"hq": torch.rand(2, 3, 8, 8), "lq": torch.rand(2, 3, 8, 8)}
    callback = SampleGrid(4)
    with caplog.at_level(logging.DEBUG, logger="bfrbench.training.sample_grid"):
        for module in (L.LightningModule(), L.LightningModule()):
            callback.on_validation_epoch_start(trainer, module)
            callback.on_validation_batch_end(trainer, module, None, batch, 0)
            callback.on_validation_epoch_end(trainer, module)
    assert [r.getMessage() for r in caplog.records] == [
        "no sample grid: LightningModule has no validation_images hook (no image output)"]
    assert _samples(logger.run_id) == []

    class Stub(L.LightningModule):  # the same callback and trainer do log a grid for a module with the hook
        def validation_images(self, b):
            return {"LQ": b["lq"], "HQ": b["hq"]}

    trainer.precision_plugin = SimpleNamespace(val_step_context=contextlib.nullcontext)
    callback.on_validation_epoch_start(trainer, Stub())
    callback.on_validation_batch_end(trainer, Stub(), None, batch, 0)
    callback.on_validation_epoch_end(trainer, Stub())
    assert _samples(logger.run_id) == ["samples/step0000002.png"]


def test_a_logged_folder_keeps_its_subfolders(profile, tmp_path):
    """The report stage logs its folder with StageRun.log_artifact (commands.cmd_report): every file, subfolders
    included, lands in the run (at the artifact root)."""
    reports = tmp_path / "reports"
    (reports / "assets" / "img").mkdir(parents=True)
    for name in ("index.html", "assets/style.css", "assets/img/grid.png"):
        (reports / name).write_text(name)
    with stage_run("report", profile, {}) as run:
        run.log_artifact(reports)
    client = mlflow.MlflowClient()

    def files(path=None):
        for f in client.list_artifacts(run.run_id, path):
            yield from files(f.path) if f.is_dir else [f.path]

    assert sorted(files()) == ["assets/img/grid.png", "assets/style.css", "index.html"]
