"""CodeFormer's three stages end to end at 32 px (train -> card -> next stage -> restore), and the weights choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bfrbench.errors import BFRBenchError
from bfrbench.methods.base import StageContext
from bfrbench.methods.registry import get_method
from bfrbench.training.stage import run_stage

ARCH = {"img_size": 32, "nf": 16, "ch_mult": [1, 1, 2], "res_blocks": 1, "attn_resolutions": [8], "codebook_size": 32,
        "emb_dim": 16, "norm_groups": 4, "dim_embd": 32, "n_head": 4, "n_layers": 1, "connect_list": ["16", "32"]}
DATA = {"batch_size": 4, "num_workers": 0, "val_count": 4}
TRAINER = {"max_steps": 3, "log_every_n_steps": 1, "checkpoint_every_n_steps": 3}
CONFIGS = {
    "vqgan": {"weights": "suite", "arch": ARCH, "disc": {"ndf": 8, "n_layers": 2},
              "loss": {"lpips": 0.0, "adversarial_start": 1}, "data": DATA, "trainer": TRAINER},
    "transformer": {"weights": "suite", "data": DATA, "trainer": TRAINER},
    # phases: mild at w = 1.3, then a mild iteration at w = 0 with the GAN on (no trainable path to the image: it
    # must train the code losses), then a large code-only iteration
    "cft": {"weights": "suite", "loss": {"lpips": 0.0, "adversarial_start": 1}, "data": DATA, "trainer": TRAINER,
            "phases": [{"until": 0.34, "w": 1.3, "mild_every": 1}, {"until": 0.67, "w": 0.0, "mild_every": 1},
                       {"until": 1.0, "w": 1.3, "mild_every": 15}]},
}


def _ctx(method, stage, faces, root, config):
    cfg = dict(config)  # the stage runner merges it over the defaults
    return StageContext(method.name, stage, cfg, {}, faces, root / method.name / stage, root / method.name, seed=5,
                        size=32, progress=False, extras={"work_root": root / "work"})


def test_three_stages_train_and_both_fidelity_weights_restore(tiny_faces, tmp_path):
    method = get_method("codeformer")
    for stage in method.stages:
        metrics = run_stage(method, _ctx(method, stage, tiny_faces, tmp_path / "models", CONFIGS[stage]))
        card = json.loads((tmp_path / "models" / "codeformer" / stage / "card.json").read_text())
        assert card["source"] == "trained by the suite" and card["steps"] == 3
        assert all(np.isfinite(v) for v in metrics.values())
    lq = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    restorer = method.load(tmp_path / "models" / "codeformer")
    a = restorer.restore(lq)
    assert a.shape == lq.shape and a.dtype == np.uint8
    assert np.array_equal(a, method.load(tmp_path / "models" / "codeformer").restore(lq))  # deterministic
    link = get_method("codeformer_w1")
    run_stage(link, _ctx(link, "link", tiny_faces, tmp_path / "models", {}))
    w1 = link.load(tmp_path / "models" / "codeformer_w1")
    assert w1.w == 1.0 and restorer.w == 0.5
    assert not np.array_equal(w1.restore(lq), a), "w=1 fuses encoder features, w=0.5 less"
    (tmp_path / "models" / "codeformer" / "cft" / "model.pt").write_bytes(b"retrained")
    with pytest.raises(BFRBenchError, match="changed since"):
        link.load(tmp_path / "models" / "codeformer_w1")
    bigger = np.random.default_rng(1).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    assert restorer.restore(bigger).shape == bigger.shape  # other sizes are resized to the network's and back


def test_transformer_stage_needs_stage_one(tiny_faces, tmp_path):
    method = get_method("codeformer")
    with pytest.raises(BFRBenchError, match="vqgan"):
        run_stage(method, _ctx(method, "transformer", tiny_faces, tmp_path, CONFIGS["transformer"]))


def test_official_weights_required_but_missing_is_a_clear_error(tiny_faces, tmp_path, monkeypatch):
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)
    method = get_method("codeformer")
    with pytest.raises(BFRBenchError, match="bfrbench weights fetch codeformer"):
        run_stage(method, _ctx(method, "vqgan", tiny_faces, tmp_path, {**CONFIGS["vqgan"], "weights": "official"}))


def test_official_weights_present_are_used_not_trained(tiny_faces, tmp_path, monkeypatch):
    """A checkpoint in the official layout ({'params_ema': state}) under the official file name is picked up."""
    import bfrbench.weights as weights
    from bfrbench.archs.codeformer import CodeFormer
    from bfrbench.assets import Asset
    from bfrbench.methods.codeformer import method as cf_method

    monkeypatch.setitem(cf_method.OFFICIAL_ARCH, "img_size", 32)  # a tiny stand-in with the official structure
    for k, v in ARCH.items():
        monkeypatch.setitem(cf_method.OFFICIAL_ARCH, k, v)
    torch.manual_seed(0)
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save({"params_ema": CodeFormer(**ARCH).state_dict()}, folder / "codeformer.pth")
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(folder))
    asset = weights.WEIGHTS["codeformer"]
    monkeypatch.setitem(weights.WEIGHTS, "codeformer", Asset(asset.name, asset.filename, None, asset.urls))
    method = get_method("codeformer")
    for stage in method.stages:
        assert run_stage(method, _ctx(method, stage, tiny_faces, tmp_path / "models", {"weights": "auto"})) == {}
    card = json.loads((tmp_path / "models" / "codeformer" / "cft" / "card.json").read_text())
    assert card["source"].startswith("official weights (codeformer.pth)")
    assert not (tmp_path / "models" / "codeformer" / "cft" / "model.pt").exists()
    out = method.load(tmp_path / "models" / "codeformer").restore(np.zeros((1, 32, 32, 3), np.uint8))
    assert out.shape == (1, 32, 32, 3)
