"""`data.degrade_on: gpu`: the training LQ made from the batch on the training device by the batched torch path.

Here the device is the CPU (the name means "on the training device"). Against `degrade_on: cpu` with the same seed:
the same samples, the same per-sample parameters, identical HQ targets, and LQ within the torch path's documented
bound; a tiny unet_l1 stage trains and exports through the real runner, and its card names the path.
"""

import json
from dataclasses import replace

import pytest
import torch

import bfrbench.data.datamodule as datamodule
import bfrbench.data.degradation as degradation
import bfrbench.data.degradation_torch as degradation_torch
from bfrbench.data.datamodule import (
    CPU_PATH,
    DEFERRED_KEY,
    SOURCE_KEY,
    BFRDataModule,
    pack_params,
    unpack_params,
)
from bfrbench.data.degradation import PRESETS, DegradationPipeline
from bfrbench.errors import ConfigError

# The torch path's bound against `apply_degradation` (exact blur), as tests/data/test_degradation_torch.py asserts it
# (test_matches_the_cpu_path_for_every_preset) and docs/degradation_torch.md measures it: at most 1 level, in under
# 1e-3 of the values. Why 1 level can happen at all: a JPEG-decoded image of a few pixels enlarged 10x or more lands
# on a rounding tie in cv2's resize and one float32 ulp beside it in torch (the up-resize, not the sample's draws).
MAX_LEVELS = 1
MAX_FRACTION = 1e-3

TINY_STAGE = {
    "model": {"channels": [8, 16]},
    "data": {"batch_size": 4, "val_count": 4, "fast_blur": False},
    "trainer": {"max_steps": 3, "log_every_n_steps": 1, "checkpoint_every_n_steps": 3, "num_sanity_val_steps": 0,
                "sample_faces": 0},
}


def _module(faces, on, degradation_cfg="gfpgan", **data):
    dm = BFRDataModule.from_config(faces, 32, 5, {"degradation": degradation_cfg, "batch_size": 4, "val_count": 4,
                                                  "fast_blur": False, "degrade_on": on, **data})
    dm.setup("fit")
    return dm


def _epoch(dm, epoch):
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(epoch)
    return list(loader)


def test_packed_params_come_back_bit_for_bit():
    params = [DegradationPipeline(PRESETS[name], 3).params_for(i, e) for name in PRESETS for i in range(4)
              for e in (0, 9)]
    base = params[0]
    params += [replace(base, color_shift=(0.05, -0.07, 1e-9)), replace(base, gray=True, kernel_size=21),
               replace(base, noise_seed=2**63 - 2, theta=-0.0)]
    back = unpack_params(torch.stack([pack_params(p) for p in params]))
    assert back == params
    assert [str(p.theta) for p in back] == [str(p.theta) for p in params]  # -0.0 stays -0.0: the bits, not the value


@pytest.mark.parametrize("degradation_cfg,lq_per_branch", [
    ("gfpgan", False),  # colour jitter and gray LQ
    ({"preset": "difface", "gray_prob": 0.5}, False),  # gray HQ targets (gt_gray): the LQ comes from the colour face
    ("codeformer_stage3", True),  # two branches: lq and lq_b1 per sample
])
def test_gpu_path_gives_the_cpu_paths_batches(tiny_faces, monkeypatch, degradation_cfg, lq_per_branch):
    drawn = []  # the parameters the CPU path degrades with, in call order (recorded inside its pipeline)
    cpu_apply = degradation.apply_degradation

    def recording(hq, params, *args, **kwargs):
        drawn.append(params)
        return cpu_apply(hq, params, *args, **kwargs)

    monkeypatch.setattr(degradation, "apply_degradation", recording)
    cpu = _module(tiny_faces, "cpu", degradation_cfg, lq_per_branch=lq_per_branch)
    gpu = _module(tiny_faces, "gpu", degradation_cfg, lq_per_branch=lq_per_branch)
    lq_keys = ["lq", "lq_b1"] if lq_per_branch else ["lq"]
    worst, differing, values, gray_targets = 0, 0, 0, 0
    for epoch in (0, 3):
        drawn.clear()
        cpu_batches = _epoch(cpu, epoch)
        cpu_drawn = list(drawn)
        drawn.clear()
        raw_batches = _epoch(gpu, epoch)
        assert not drawn, "the gpu path's workers must not degrade"
        gpu_drawn = []
        for ref, raw in zip(cpu_batches, raw_batches, strict=True):
            assert "lq" not in raw and set(raw[DEFERRED_KEY]) == set(lq_keys)
            unpacked = {k: unpack_params(raw[DEFERRED_KEY][k]) for k in lq_keys}
            gpu_drawn += [unpacked[k][i] for i in range(len(raw["index"])) for k in lq_keys]
            got = gpu.on_after_batch_transfer(raw, 0)
            assert list(got) == list(ref), "the same keys, in the same order"
            assert torch.equal(got["index"], ref["index"])
            assert torch.equal(got["hq"], ref["hq"]), "HQ targets must be identical"
            if SOURCE_KEY in raw:
                gray_targets += int((~torch.isclose(raw[SOURCE_KEY], raw["hq"])).flatten(1).any(1).sum())
            for k in lq_keys:
                assert got[k].dtype == ref[k].dtype == torch.float32 and got[k].shape == ref[k].shape
                assert got[k].min() >= 0 and got[k].max() <= 1
                assert torch.equal(torch.round(got[k] * 255), got[k] * 255), "8-bit levels, as to_tensor gives"
                diff = torch.round((got[k] - ref[k]).abs() * 255)
                worst = max(worst, int(diff.max()))
                differing += int((diff > 0).sum())
                values += diff.numel()
        assert gpu_drawn == cpu_drawn, "the same per-sample parameters on both paths"
    assert worst <= MAX_LEVELS and differing / values < MAX_FRACTION, (worst, differing, values)
    if isinstance(degradation_cfg, dict):
        assert gray_targets > 0, "the gray-target case must be exercised"


def test_the_degradation_is_the_one_of_the_torch_path(tiny_faces, monkeypatch):
    """Not a CPU fallback: degrade_batch runs, with the real JPEG codec; data.fast_blur picks the float32 FFT."""
    calls = []
    torch_degrade = degradation_torch.degrade_batch

    def spy(hq, params, **kwargs):
        calls.append(kwargs)
        return torch_degrade(hq, params, **kwargs)

    monkeypatch.setattr(degradation_torch, "degrade_batch", spy)
    for fast_blur, blur, noise in ((False, "fft64", "numpy"), (True, "fft32", "fast")):
        dm = _module(tiny_faces, "gpu", fast_blur=fast_blur)
        dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
        assert calls.pop() == {"jpeg": "cpu", "noise": noise, "blur": blur}  # the CPU path's noise, either way
        assert dm.degradation_path.startswith("gpu: the batched torch path on the training device "
                                              "(bfrbench.data.degradation_torch; JPEG: jpeg='cpu'")
        assert f"blur: {blur}" in dm.degradation_path
    assert _module(tiny_faces, "cpu").degradation_path == CPU_PATH == "cpu (numpy, bfrbench.data.degradation)"
    assert _module(tiny_faces, None).degradation_path == CPU_PATH  # null is the default: cpu


def test_validation_and_real_lq_batches_pass_unchanged(tiny_faces):
    gpu = _module(tiny_faces, "gpu", real_lq=str(tiny_faces / "hq"))
    cpu = _module(tiny_faces, "cpu", real_lq=str(tiny_faces / "hq"))
    loaders = gpu.train_dataloader()
    real = next(iter(loaders["real_lq"]))
    combined = {"paired": next(iter(loaders["paired"])), "real_lq": real}
    got = gpu.on_after_batch_transfer(combined, 0)
    ref = next(iter(cpu.train_dataloader()["paired"]))
    assert set(got) == {"paired", "real_lq"} and got["real_lq"] is real
    assert list(got["paired"]) == ["lq", "hq", "index"] and torch.equal(got["paired"]["hq"], ref["hq"])
    val = next(iter(gpu.val_dataloader()))
    assert gpu.on_after_batch_transfer(val, 0) is val  # the fixed validation set stays the exact CPU path's
    assert torch.equal(val["lq"], next(iter(cpu.val_dataloader()))["lq"])
    # readers of train_set outside the Lightning loop (FLIPNET's smoke pre-fit) still get complete items
    assert {"lq", "hq", "index"} <= set(gpu.train_set[(0, 0)])


def test_bad_values_and_data_without_synthesised_lq_are_refused(tiny_faces, tmp_path):
    for bad in ("cuda", "GPU", True):
        with pytest.raises(ConfigError, match=r"data\.degrade_on: .* is not one of cpu, gpu"):
            BFRDataModule.from_config(tiny_faces, 32, 0, {"degrade_on": bad})
    with pytest.raises(ConfigError, match=r"(?s)unknown key .degrade.*degrade_on"):
        BFRDataModule.from_config(tiny_faces, 32, 0, {"degrade": "gpu"})
    # pre-made pairs mixed into the online draws: nothing to degrade for them, and a batch mixes both
    with pytest.raises(ConfigError, match="degrade_on: gpu with data.extra_pairs"):
        BFRDataModule.from_config(tiny_faces, 32, 0, {"degrade_on": "gpu", "extra_pairs": str(tmp_path)})
    BFRDataModule.from_config(tiny_faces, 32, 0, {"degrade_on": "cpu", "extra_pairs": str(tmp_path)})
    # the `degrade` stage writes pre-made pairs with its own data block: the key is unknown there
    from bfrbench.stages.degrade import load_data_config

    (tmp_path / "degrade.yaml").write_text("degrade_on: gpu\n")
    with pytest.raises(ConfigError, match="unknown key 'degrade_on'"):
        load_data_config(str(tmp_path / "degrade.yaml"))
    # test sets (synthetic ones are made with the exact CPU path; official ones are read as they are): unknown too
    from bfrbench.stages.testsets import validate_spec

    synthetic = {"kind": "synthetic", "source_split": "test", "degradation": "gfpgan"}
    for spec in (synthetic, {"kind": "folder", "lq": "a", "hq": "b"}):
        validate_spec("t", spec)
        with pytest.raises(ConfigError, match=r"unknown key\(s\) \['degrade_on'\]"):
            validate_spec("t", {**spec, "degrade_on": "gpu"})


def test_a_stage_that_trains_nothing_refuses_it(tiny_faces, tmp_path):
    from bfrbench.methods.base import StageContext
    from bfrbench.training.stage import NoTraining, run_stage

    class Official:  # a stage with a data block whose plan is official weights: no data are read
        name = "official"

        def default_config(self, stage):
            return {"data": {}}

        def plan(self, ctx):
            return NoTraining({"method": self.name, "stage": ctx.stage})

    def ctx(data, out):
        return StageContext("official", "s", {"data": data}, {}, tiny_faces, out, out.parent, seed=0, size=32)

    with pytest.raises(ConfigError, match="data.degrade_on is 'gpu', but this stage trains nothing"):
        run_stage(Official(), ctx({"degrade_on": "gpu"}, tmp_path / "a" / "s"))
    run_stage(Official(), ctx({"degrade_on": "cpu"}, tmp_path / "b" / "s"))
    assert (tmp_path / "b" / "s" / "card.json").is_file()


def test_tiny_stage_trains_with_gpu_degradation_and_its_card_says_so(tiny_faces, tmp_path, monkeypatch):
    from bfrbench.methods.base import StageContext
    from bfrbench.methods.registry import get_method
    from bfrbench.training.curves import CURVE_FILE, compare_curves
    from bfrbench.training.stage import merged_config, run_stage

    degraded = []
    original = datamodule.degrade_deferred

    def counting(batch, blur):
        out = original(batch, blur)
        degraded.append(isinstance(batch, dict) and DEFERRED_KEY in batch)
        return out

    monkeypatch.setattr(datamodule, "degrade_deferred", counting)
    method = get_method("unet_l1")
    cards, curves = {}, {}
    for on in ("cpu", "gpu"):
        config = {**TINY_STAGE, "data": {**TINY_STAGE["data"], "degrade_on": on}}
        out = tmp_path / on / "models" / "unet_l1" / "train"
        ctx = StageContext("unet_l1", "train", merged_config(method, "train", config, "test"), {}, tiny_faces, out,
                           out.parent, seed=3, size=32, progress=False, extras={"work_root": tmp_path / on / "ckpt"})
        run_stage(method, ctx)
        assert (out / "model.pt").is_file()
        cards[on] = json.loads((out / "card.json").read_text())
        curves[on] = json.loads((out / CURVE_FILE).read_text())
        assert method.load(out.parent).restore(torch.zeros(1, 32, 32, 3, dtype=torch.uint8).numpy()).shape == (
            1, 32, 32, 3)
    assert degraded.count(True) == 3, "every training batch degraded on the device, by the hook"
    assert cards["cpu"]["degradation_path"] == "cpu (numpy, bfrbench.data.degradation)"
    assert cards["gpu"]["degradation_path"].startswith("gpu: the batched torch path on the training device")
    assert cards["gpu"]["config"]["data"]["degrade_on"] == "gpu" and cards["gpu"]["steps"] == 3
    # the same training within the reference-curve tolerance (what `bfrbench train --check` allows across machines)
    report = compare_curves(curves["gpu"], curves["cpu"], exact=False)
    assert report["ok"] and len(curves["gpu"]["points"]) == 3, report
