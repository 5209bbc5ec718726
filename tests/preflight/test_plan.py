"""Which stages a preflight runs, in graph order, and what it changes in each config (fast)."""

from pathlib import Path

import pytest

from bfrbench.config import load_params, load_yaml
from bfrbench.errors import ConfigError
from bfrbench.methods.registry import get_method
from bfrbench.preflight.plan import (
    TRAIN_OF,
    Options,
    StageSpec,
    cpu_has_native_bf16,
    degrade_config,
    dvc_links,
    profile_stages,
    select,
    stage_run_config,
    worker_cap,
)

ROOT = Path(__file__).resolve().parents[2]
PAPER = load_params(ROOT / "experiments/profiles/paper.yaml")


def _stages():
    return profile_stages(PAPER, dvc_links(ROOT))


def test_every_training_stage_of_the_graph_in_its_order():
    keys = [s.key for s in _stages()]
    assert keys[: len(PAPER["train"])] == list(PAPER["train"])  # the train foreach, as written
    assert set(keys[len(PAPER["train"]) : -1]) == {"clrface_no_mask", "clrface_no_guidance", "codeformer_w1"}
    assert keys[-1] == TRAIN_OF  # after degrade@flipnet, which needs every flipnet stage
    of = _stages()[-1]
    assert (of.method, of.stage, of.config, of.needs) == ("unet_l1_of", "train", PAPER["flipnet"]["plus_of_config"],
                                                          ("flipnet",))


def test_select_adds_the_stages_a_stage_reads():
    stages = _stages()
    assert [s.key for s in select(stages, ["codeformer-cft"])] == ["codeformer-vqgan", "codeformer-transformer",
                                                                  "codeformer-cft"]
    assert [s.key for s in select(stages, ["codeformer_w1"])] == ["codeformer-vqgan", "codeformer-transformer",
                                                                 "codeformer-cft", "codeformer_w1"]
    assert [s.key for s in select(stages, [TRAIN_OF])][-4:] == ["flipnet-embed_ae", "flipnet-embed_align",
                                                               "flipnet-diffusion", TRAIN_OF]
    assert [s.key for s in select(stages, ["unet_l1"])] == ["unet_l1-train"]  # a method name selects its stages
    assert select(stages, None) == stages
    with pytest.raises(ConfigError, match="nosuch"):
        select(stages, ["nosuch"])


def test_worker_cap_keeps_a_core_per_process():
    assert worker_cap(2, 2) == 0 and worker_cap(2, 1) == 1 and worker_cap(64, 8) == 7 and worker_cap(1, 4) == 0


def _run(key, **opts):
    spec = next(s for s in _stages() if s.key == key)
    return stage_run_config(spec, load_yaml(ROOT / spec.config), get_method(spec.method), 512, Options(**opts))


def test_the_real_config_with_only_the_preflight_changes():
    run = _run("unet_l1-train", steps=3, devices=2, accelerator="cpu", cpus=2, native_bf16=True)
    raw = load_yaml(ROOT / "experiments/unet_l1/train_paper.yaml")
    t = run.config["trainer"]
    assert (t["devices"], t["accelerator"], t["max_steps"], t["checkpoint_every_n_steps"]) == (2, "cpu", 8, 3)
    assert (t["strategy"], t["precision"]) == (raw["trainer"]["strategy"], raw["trainer"]["precision"])
    assert run.config["model"] == raw["model"] and run.config["data"]["batch_size"] == raw["data"]["batch_size"]
    assert run.config["data"]["num_workers"] == 0  # 2 CPUs for 2 processes
    assert run.configured == {"devices": 8, "num_nodes": 1, "accelerator": "gpu", "strategy": "ddp",
                              "precision": "bf16-mixed", "max_steps": 200000, "batch_size": 4, "num_workers": 8,
                              "size": 512}
    assert run.preflight["devices"] == 2 and run.trains
    text = " ".join(run.notes)
    assert "num_workers 8 -> 0" in text and "2 of the configured 8 devices" in text and "gpu -> cpu" in text


def test_emulated_bf16_on_cpu_runs_fp32_and_says_so():
    assert cpu_has_native_bf16("flags : fpu avx2 avx512_bf16") and not cpu_has_native_bf16("flags : fpu avx2")
    run = _run("unet_l1-train", devices=2, accelerator="cpu", native_bf16=False)
    assert run.config["trainer"]["precision"] == "32-true" and run.preflight["precision"] == "32-true"
    assert any("no native bf16" in n for n in run.notes)
    assert _run("unet_l1-train", accelerator="gpu", native_bf16=False).config["trainer"]["precision"] == "bf16-mixed"


def test_batch_size_and_size_are_noted_with_the_reason():
    run = _run("codeformer-vqgan", steps=1, devices=2, accelerator="cpu", batch_size=1, size=256, why="CI budget")
    assert run.config["data"]["batch_size"] == 1 and run.preflight["batch_size"] == 1
    assert run.config["arch"]["img_size"] == 256  # the method's hook: stage I's size follows the faces
    assert run.config["arch"]["connect_list"] == ["16", "32", "64", "128"]  # the same network levels
    text = " ".join(run.notes)
    assert "batch size 4 -> 1 per device (--batch-size, CI budget)" in text
    assert "arch.img_size 512 -> 256" in text and "discriminator idle" in text
    assert "size 512 -> 256 px (--size, CI budget)" in text and run.configured["size"] == 512


def test_a_stage_without_training_has_no_trainer_changes():
    run = _run("lq-card")
    assert not run.trains and run.config == {} and run.configured == {}


def test_classic_fit_projects_its_full_grid_search():
    run = _run("classic-fit")
    assert run.config["num_faces"] == 2 and run.work_scale == 250  # 500 faces configured


def test_missing_weights_give_the_same_architecture_with_random_init(monkeypatch):
    import bfrbench.methods.flipnet.backbone as backbone

    monkeypatch.setattr(backbone, "pretrained_available", lambda model_id, revision=None: False)
    run = _run("flipnet-diffusion", devices=2, accelerator="cpu")
    assert run.config["backbone"]["source"] == "architecture" and run.random_weights
    assert run.config["backbone"]["model_id"] == backbone.SD21_BASE
    assert any("not in the Hugging Face cache" in n for n in run.notes)


def test_sd21_base_architecture_is_written_for_its_model_id():
    from bfrbench.methods.flipnet.backbone import ARCHITECTURES, SD21_BASE

    unet = ARCHITECTURES[SD21_BASE]["unet"]
    assert unet["block_out_channels"] == [320, 640, 1280, 1280] and unet["cross_attention_dim"] == 1024
    assert ARCHITECTURES[SD21_BASE]["vae"]["latent_channels"] == 4


def test_degrade_config_keeps_the_rest():
    cfg, notes = degrade_config({"split": "train", "variants": 5, "batch_size": 32, "real_lq": "data/lfw_test"})
    assert cfg == {"split": "train", "variants": 1, "batch_size": 2, "real_lq": "data/lfw_test", "limit": 2,
                   "sampler_steps": 2}
    assert notes


def test_stage_spec_is_hashable():
    assert len({StageSpec("a", "m", "s", "c", "train"), StageSpec("a", "m", "s", "c", "train")}) == 1
