"""FLIPNET's diffusion stage with real degradation pairs (the paper's setting): the Degradation mode's samples are
the real pairs of every layout, the faces train the Restoration mode, the card counts the pairs seen per set; the
settings that would be ignored are errors."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from test_pipeline_stages import CONFIGS

from bfrbench.errors import ConfigError
from bfrbench.methods.base import StageContext
from bfrbench.methods.flipnet.adapter import MODES
from bfrbench.methods.registry import get_method
from bfrbench.training.stage import run_stage
from real_pair_layouts import BUILDERS

pytestmark = pytest.mark.slow

STEPS, REAL_BATCH = 3, 5


def _ctx(stage, config, faces, tmp_path):
    models = tmp_path / "models" / "flipnet"
    return StageContext("flipnet", stage, config, {}, faces, models / stage, models, seed=0, size=32, progress=False,
                        extras={"work_root": tmp_path / "ckpt"})


@pytest.fixture(scope="module")
def embedding(tmp_path_factory):
    from conftest import make_face_set

    root = tmp_path_factory.mktemp("flipnet_real")
    faces = make_face_set(root / "faces")
    m = get_method("flipnet")
    for stage in ("embed_ae", "embed_align"):
        run_stage(m, _ctx(stage, CONFIGS[stage], faces, root))
    specs = []
    for kind, build in BUILDERS.items():
        build(root / "real" / kind)
        specs.append({"name": f"my_{kind}", "kind": kind, "root": str(root / "real" / kind)})
    return root, faces, specs


def _diffusion_config(specs, **loss):
    cfg = copy.deepcopy(CONFIGS["diffusion"])
    cfg["data"] = {**cfg["data"], "real_pairs": specs, "real_pairs_batch_size": REAL_BATCH}
    cfg["loss"] = {"p_degrade": None, **loss}
    cfg["trainer"] = {**cfg["trainer"], "max_steps": STEPS}
    return cfg


def test_degradation_mode_trains_on_the_real_pairs_of_every_layout(embedding, monkeypatch):
    from bfrbench.methods.flipnet.diffusion_module import FlipNetDiffusionModule

    root, faces, specs = embedding
    seen = []
    real_losses = FlipNetDiffusionModule.losses

    def record(self, hq, lq, mode, noise, t):
        if self.training:
            seen.append((hq.detach().clone(), lq.detach().clone(), mode.clone()))
        return real_losses(self, hq, lq, mode, noise, t)

    monkeypatch.setattr(FlipNetDiffusionModule, "losses", record)
    m = get_method("flipnet")
    run_stage(m, _ctx("diffusion", _diffusion_config(specs), faces, root))
    assert len(seen) == STEPS
    for hq, lq, mode in seen:
        degrade = mode == MODES["degrade"]
        assert int(degrade.sum()) == REAL_BATCH and bool(degrade[-REAL_BATCH:].all()), mode
        # every real pair was written with lq = 255 - hq (tests/real_pair_layouts.py): an aligned crop keeps it
        assert torch.allclose(lq[degrade], 1 - hq[degrade], atol=1e-6)
        assert not torch.allclose(lq[~degrade], 1 - hq[~degrade], atol=0.1), "the faces train the Restoration mode"
    card = json.loads((root / "models" / "flipnet" / "diffusion" / "card.json").read_text())
    counts = {k.rsplit("/", 1)[1]: v for k, v in card["final_metrics"].items() if "real_pairs_seen" in k}
    assert sorted(counts) == sorted(s["name"] for s in specs)
    assert sum(counts.values()) == STEPS * REAL_BATCH
    assert [s["name"] for s in card["config"]["data"]["real_pairs"]] == [s["name"] for s in specs]


def test_naive_faces_share_the_degradation_mode_when_asked(embedding, monkeypatch, tmp_path):
    from bfrbench.methods.flipnet.diffusion_module import FlipNetDiffusionModule

    _, faces, specs = embedding
    modes = []
    real_losses = FlipNetDiffusionModule.losses

    def record(self, hq, lq, mode, noise, t):
        if self.training:
            modes.append(mode.clone())
        return real_losses(self, hq, lq, mode, noise, t)

    monkeypatch.setattr(FlipNetDiffusionModule, "losses", record)
    root = embedding[0]
    (tmp_path / "models" / "flipnet").mkdir(parents=True)
    for stage in ("embed_ae", "embed_align"):
        (tmp_path / "models" / "flipnet" / stage).symlink_to(root / "models" / "flipnet" / stage)
    run_stage(get_method("flipnet"), _ctx("diffusion", _diffusion_config(specs[:1], p_naive_in_degrade=1.0), faces,
                                          tmp_path))
    assert all(bool((mode == MODES["degrade"]).all()) for mode in modes), "p_naive_in_degrade 1: every face too"


@pytest.mark.parametrize("change, needle", [
    ({"loss": {"p_degrade": 0.5}}, "p_degrade is set together with data.real_pairs"),
    ({"loss": {"p_degrade": None, "p_naive_in_degrade": 1.5}}, "p_naive_in_degrade 1.5"),
    ({"data": {"real_pairs": None}, "loss": {"p_degrade": 0.5, "p_naive_in_degrade": 0.2}}, "without data.real_pairs"),
    ({"data": {"real_pairs": [{"name": "a", "kind": "lol", "root": "absent/one"},
                              {"name": "b", "kind": "sidd", "root": "absent/two"}]}}, "absent/one, absent/two"),
])
def test_settings_that_would_be_ignored_are_errors(change, needle, embedding, tmp_path):
    _, faces, specs = embedding
    cfg = _diffusion_config(specs)
    for block, values in change.items():
        cfg[block] = {**cfg[block], **values}
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        run_stage(get_method("flipnet"), _ctx("diffusion", cfg, faces, tmp_path))


def test_other_stages_refuse_real_pairs(embedding, tmp_path):
    root, faces, specs = embedding
    (tmp_path / "models" / "flipnet").mkdir(parents=True)
    (tmp_path / "models" / "flipnet" / "embed_ae").symlink_to(root / "models" / "flipnet" / "embed_ae")
    cfg = copy.deepcopy(CONFIGS["embed_align"])
    cfg["data"] = {**cfg["data"], "real_pairs": specs}
    with pytest.raises(ConfigError, match="does not train on real degradation pairs"):
        run_stage(get_method("flipnet"), _ctx("embed_align", cfg, faces, tmp_path))
