"""DifFace's two stages end to end at 32 px (train -> cards -> restore), determinism and the weights choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bfrbench.errors import BFRBenchError
from bfrbench.methods.base import StageContext
from bfrbench.methods.registry import get_method
from bfrbench.training.stage import run_stage

DATA = {"batch_size": 4, "num_workers": 0, "val_count": 4}
TRAINER = {"max_steps": 3, "log_every_n_steps": 1, "checkpoint_every_n_steps": 3}
EST = {"img_size": 4, "embed_dim": 24, "depths": [2], "num_heads": [4], "window_size": 4, "mlp_ratio": 2.0, "sf": 8}
PRIOR = {"image_size": 32, "model_channels": 16, "out_channels": 6, "num_res_blocks": 1, "attention_resolutions": [8],
         "channel_mult": [1, 2, 2], "num_head_channels": 16, "norm_groups": 8}
CONFIGS = {
    "estimator": {"weights": "suite", "arch": EST, "data": DATA, "trainer": TRAINER},
    "prior": {"weights": "suite", "arch": PRIOR, "data": DATA, "trainer": TRAINER},
}
SAMPLING = {"respacing": 25, "start_step": 3, "eta": 0.5}  # restore-time (params.yaml sampling.difface)


def _ctx(stage, faces, root, config, seed=5):
    method = get_method("difface")
    cfg = dict(config)  # the stage runner merges it over the defaults
    return method, StageContext("difface", stage, cfg, {}, faces, root / "difface" / stage, root / "difface",
                                seed=seed, size=32, progress=False, extras={"work_root": root / "work"})


def test_stages_train_and_restore_deterministically(tiny_faces, tmp_path):
    for stage in ("estimator", "prior"):
        method, ctx = _ctx(stage, tiny_faces, tmp_path / "models", CONFIGS[stage])
        metrics = run_stage(method, ctx)
        assert all(np.isfinite(v) for v in metrics.values())
        card = json.loads((ctx.out_dir / "card.json").read_text())
        assert card["source"] == "trained by the suite" and card["steps"] == 3
        assert "unavailable" in card["why_not_official"] or card["why_not_official"] == "weights: suite"
    lq = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    restorer = get_method("difface").load(tmp_path / "models" / "difface", sampling=SAMPLING)
    assert restorer.sampler.t0 == 120  # start step 3 of 25 strided steps of 40
    a = restorer.restore(lq)
    assert a.shape == lq.shape and a.dtype == np.uint8
    b = get_method("difface").load(tmp_path / "models" / "difface", sampling=SAMPLING).restore(lq)
    assert np.array_equal(a, b), "same seed and inputs -> bit-identical outputs"
    # An image's noise does not depend on its batch; its float results may, in the last bits (CPU kernels block per
    # batch size: a CI run on another x86 CPU restored one tiny-DifFace image differently at batch 3 than at batch 4),
    # which uint8 rounding turns into rare 1-level flips. Batch-dependent noise would change most values.
    d = np.abs(restorer.restore(lq[1:2]).astype(int) - a[1:2].astype(int))
    assert d.max() <= 1 and (d > 0).mean() < 0.005, (d.max(), (d > 0).mean())
    restorer.seed += 1  # another seed draws other noise: most values change
    other = np.abs(restorer.restore(lq).astype(int) - a.astype(int))
    assert (other > 0).mean() > 0.5, (other > 0).mean()


def test_sampler_settings_are_restore_time_and_checked(tiny_faces, tmp_path):
    from bfrbench.errors import ConfigError

    method, ctx = _ctx("prior", tiny_faces, tmp_path, CONFIGS["prior"])
    with pytest.raises(ConfigError, match="restore-time"):  # a training config may not hold them
        run_stage(method, ctx.__class__(**{**ctx.__dict__, "config": {**ctx.config, "sampler": SAMPLING}}))
    for stage in ("estimator", "prior"):
        method, ctx = _ctx(stage, tiny_faces, tmp_path / "models", CONFIGS[stage])
        run_stage(method, ctx)
    with pytest.raises(ConfigError, match="start_step"):
        method.load(tmp_path / "models" / "difface", sampling={**SAMPLING, "start_step": 30})


def test_size_mismatch_is_a_clear_error(tiny_faces, tmp_path):
    method, ctx = _ctx("estimator", tiny_faces, tmp_path, {**CONFIGS["estimator"], "arch": {**EST, "img_size": 8}})
    with pytest.raises(BFRBenchError, match="img_size"):
        run_stage(method, ctx)


def test_official_weights_present_are_used(tiny_faces, tmp_path, monkeypatch):
    """Checkpoints in the official layouts (flat, and 'module.'-prefixed) under the official names are used."""
    import bfrbench.weights as weights
    from bfrbench.archs.iddpm_unet import IDDPMUNet
    from bfrbench.archs.swinir import SwinIRUnshuffle
    from bfrbench.assets import Asset
    from bfrbench.methods.difface import method as df_method

    monkeypatch.setattr(df_method, "OFFICIAL_ESTIMATOR", EST)  # tiny stand-ins with the official structure
    monkeypatch.setattr(df_method, "OFFICIAL_PRIOR", PRIOR)
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.manual_seed(0)
    torch.save(SwinIRUnshuffle(**EST).state_dict(), folder / "swinir_restoration512_L1.pth")
    torch.save({f"module.{k}": v for k, v in IDDPMUNet(**PRIOR).state_dict().items()},
               folder / "iddpm_ffhq512_ema500000.pth")
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(folder))
    for name in ("difface_swinir512", "difface_iddpm_ffhq512"):
        a = weights.WEIGHTS[name]
        monkeypatch.setitem(weights.WEIGHTS, name, Asset(a.name, a.filename, None, a.urls))
    for stage in ("estimator", "prior"):
        method, ctx = _ctx(stage, tiny_faces, tmp_path / "models", {"weights": "auto"})
        assert run_stage(method, ctx) == {}
        assert json.loads((ctx.out_dir / "card.json").read_text())["source"].startswith("official weights")
    restorer = get_method("difface").load(tmp_path / "models" / "difface", sampling=SAMPLING)
    out = restorer.restore(np.zeros((1, 64, 64, 3), np.uint8))
    assert out.shape == (1, 64, 64, 3)
