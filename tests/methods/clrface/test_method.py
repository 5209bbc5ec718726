"""CLR-Face end to end at a tiny size: its three stages train in order, the ablation links, restoration."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bfrbench.config import merge_known
from bfrbench.errors import BFRBenchError
from bfrbench.methods.base import StageContext
from bfrbench.methods.registry import get_method
from bfrbench.training.stage import run_stage

DATA = {"batch_size": 4, "val_count": 4, "degradation": {"preset": "codeformer_stage2"}}
TRAINER = {"max_steps": 2, "log_every_n_steps": 1, "checkpoint_every_n_steps": 2}
CONFIGS = {
    "vqgan": {"model": {"channels": [8, 8, 8], "embed_dim": 2, "codebook_size": 16, "res_blocks": 1},
              "loss": {"adversarial_start": 1, "discriminator": {"channels": 8, "layers": 2}},
              "data": DATA, "trainer": TRAINER},
    "latent_prior": {"net": {"channels": [8, 16], "time_dim": 16}, "latent_scale_faces": 4, "data": DATA,
                     "trainer": TRAINER},
    "identity": {"data": DATA, "trainer": TRAINER},
}
SAMPLING = {"steps": 3, "guidance_t_max": 0.7, "guidance_scale": 0.5}  # restore-time (params.yaml sampling.clrface)


@pytest.fixture
def random_recogniser(monkeypatch):
    """Random-weight recogniser: exercises the code paths offline and fast (tests only)."""
    from bfrbench.methods.clrface import face_id
    from bfrbench.nets.dlib_resnet import DlibResNet

    def fake(name):
        torch.manual_seed(0)
        return DlibResNet().eval().requires_grad_(False)

    monkeypatch.setattr(face_id, "recognition_net", fake)


def _train(method_name, stage, config, faces, models, work):
    method = get_method(method_name)
    cfg = dict(config)  # the stage runner merges it over the defaults
    ctx = StageContext(method_name, stage, cfg, {}, faces, models / method_name / stage, models / method_name,
                       seed=5, size=32, progress=False, extras={"work_root": work})
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    return run_stage(method, ctx), ctx


@pytest.mark.slow  # three Lightning fits + four restorations with a 150-px recogniser: ~15 s of CPU
def test_stages_in_order_then_restore_and_ablations(tiny_faces, tmp_path, random_recogniser):
    models, work = tmp_path / "models", tmp_path / "ckpt"
    with pytest.raises(BFRBenchError, match="train@clrface-vqgan"):
        _train("clrface", "latent_prior", CONFIGS["latent_prior"], tiny_faces, models, work)
    for stage in ("vqgan", "latent_prior", "identity"):
        _train("clrface", stage, CONFIGS[stage], tiny_faces, models, work)
        card = json.loads((models / "clrface" / stage / "card.json").read_text())
        assert card["source"] == "trained by the suite" and card["steps"] >= 1
    lq = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    restorer = get_method("clrface").load(models / "clrface", sampling=SAMPLING)
    out = restorer.restore(lq)
    assert out.shape == lq.shape and out.dtype == np.uint8
    again = get_method("clrface").load(models / "clrface", sampling=SAMPLING).restore(lq)
    assert np.array_equal(out, again)  # same seed, same bits
    # Per-image noise: batching does not change an image's draws. Its float results can differ in the last bits (CPU
    # conv kernels block differently per batch size), which rounding to uint8 turns into rare 1-level flips
    # (measured: max 1 level in 0.03% of values); more than that means batch-dependent noise.
    d = np.abs(out[1:2].astype(int) - restorer.restore(lq[1:2]).astype(int))
    assert d.max() <= 1 and (d > 0).mean() < 0.005
    restorer.seed += 1  # another seed draws other noise: most values change
    other = np.abs(restorer.restore(lq).astype(int) - out.astype(int))
    assert (other > 0).mean() > 0.5, (other > 0).mean()

    rows = {}
    for name, cfg in (("clrface_no_mask", {"overrides": {"mask_fraction": 1.0}}),
                      ("clrface_no_guidance", {"overrides": {"guidance_scale": 0.0}})):
        _train(name, "link", cfg, tiny_faces, models, work)
        assert not (models / name / "link" / "model.pt").exists()  # a link, not a copy: nothing retrained
        rows[name] = get_method(name).load(models / name, sampling=SAMPLING).restore(lq)
    assert not np.array_equal(rows["clrface_no_guidance"], out)
    assert not np.array_equal(rows["clrface_no_mask"], out)

    # A link refuses models that changed after it was made.
    blob = torch.load(models / "clrface" / "identity" / "model.pt", weights_only=True)
    blob["mask_logits"] = blob["mask_logits"] + 1
    torch.save(blob, models / "clrface" / "identity" / "model.pt")
    with pytest.raises(BFRBenchError, match="link@clrface_no_mask"):
        get_method("clrface_no_mask").load(models / "clrface_no_mask")


def test_unknown_keys_raise(tiny_faces, tmp_path):
    from bfrbench.errors import ConfigError

    with pytest.raises(ConfigError, match="lr_typo"):
        merge_known(get_method("clrface").default_config("vqgan"), {"optim": {"lr_typo": 1}}, "x")
    with pytest.raises(ConfigError, match="mask_fractoin"):
        _train("clrface_no_mask", "link", {"overrides": {"mask_fractoin": 1}}, tiny_faces, tmp_path / "m", tmp_path)
