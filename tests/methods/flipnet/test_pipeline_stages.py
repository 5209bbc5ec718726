"""The three FLIPNET stages through the method interface, then restore, degrade and +O/F training data."""

import json

import numpy as np
import pytest

from bfrbench.methods.base import StageContext
from bfrbench.methods.registry import get_method
from bfrbench.training.stage import run_stage
from flipnet_tiny import TINY_UNET, TINY_VAE

TRAINER = {"accelerator": "cpu", "max_steps": 4, "log_every_n_steps": 1, "checkpoint_every_n_steps": 0}
DATA = {"degradation": {"preset": "codeformer_stage2", "blur_sigma": [0.25, 2.0], "scale": [1.0, 4.0]},
        "batch_size": 4, "val_count": 2}
CONFIGS = {
    "embed_ae": {"resolution": 32, "model": {"channels": [8, 16], "dim": 8, "disc_channels": [8, 16]},
                 "loss": {"adversarial_start": 1}, "perceptual": {"weights": "random", "layers": ["relu1_2"]},
                 "data": DATA, "trainer": TRAINER},
    "embed_align": {"model": {"proj_dim": 8}, "data": DATA, "trainer": TRAINER},
    "diffusion": {"backbone": {"source": "config", "unet": TINY_UNET, "vae": TINY_VAE,
                               "vae_fit": {"steps": 2, "lr": 1e-3, "batch_size": 4},
                               "unet_fit": {"steps": 2, "lr": 1e-3, "batch_size": 4}},
                  "lora": {"rank": 2, "alpha": 2}, "adapter": {"hidden": 16},
                  "perceptual": {"weights": "random", "layers": ["relu1_2"]},
                  "data": DATA, "trainer": TRAINER},
}


def _train_all(faces, tmp_path):
    m = get_method("flipnet")
    models = tmp_path / "models" / "flipnet"
    for stage in m.stages:
        ctx = StageContext("flipnet", stage, CONFIGS[stage], {}, faces, models / stage, models, seed=0, size=32,
                           progress=False, extras={"work_root": tmp_path / "ckpt"})
        run_stage(m, ctx)
        assert json.loads((models / stage / "card.json").read_text())["stage"] == stage
    return m, models


@pytest.mark.slow
def test_three_stages_then_restore_and_degrade(tiny_faces, tmp_path):
    from bfrbench.stages.degrade import DATA_DEFAULTS, degrade_faces

    m, models = _train_all(tiny_faces, tmp_path)
    card = json.loads((models / "diffusion" / "card.json").read_text())
    assert 0 < card["trainable_parameters"] < card["all_parameters"] and card["vae_fit"]["steps"] == 2
    prior_fit = card["vae_fit"]["unet_prior_fit"]
    assert prior_fit["steps"] == 2 and prior_fit["latent_scaling_factor"] > 0
    runner = m.load(models, sampling={"steps": 2})
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    y = runner.restore(x)
    reloaded = m.load(models, sampling={"steps": 2}).restore(x)
    assert y.shape == x.shape and np.array_equal(y, reloaded)  # bit-identical
    cfg = {**DATA_DEFAULTS, "variants": 2, "limit": 3}
    params = {"size": 32, "seed": 0, "sampling": {"flipnet": {"steps": 2}}}
    meta = degrade_faces("flipnet", cfg, params, tiny_faces, models, tmp_path / "deg")
    assert meta["count"] == 6 and len(list((tmp_path / "deg" / "lq").glob("*.png"))) == 6
    naive = degrade_faces("naive", cfg, {"size": 32, "seed": 0}, tiny_faces, models, tmp_path / "naive")
    assert sorted(p.name for p in (tmp_path / "naive" / "lq").iterdir()) == \
        sorted(p.name for p in (tmp_path / "deg" / "lq").iterdir()) and naive["count"] == 6
    from bfrbench.errors import BFRBenchError

    with pytest.raises(BFRBenchError):  # nothing overwritten without --overwrite
        degrade_faces("naive", cfg, {"size": 32, "seed": 0}, tiny_faces, models, tmp_path / "naive")
