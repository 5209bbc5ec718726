import numpy as np
import pytest
import torch

from bfrbench.errors import AssetError
from bfrbench.methods.flipnet.backbone import SD21_BASE, load_pretrained
from bfrbench.methods.flipnet.loading import FlipNetRunner
from bfrbench.methods.flipnet.sampler import DDIMFlipSampler
from flipnet_tiny import SCHEDULE, tiny_flipnet


def _faces(n=3, size=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_sampler_is_deterministic_and_independent_of_the_batch():
    runner = FlipNetRunner(tiny_flipnet(), DDIMFlipSampler(SCHEDULE, steps=3), seed=5, device="cpu")
    x = _faces()
    a = runner.restore(x)
    b = runner.restore(x)
    c = runner.restore(x[1:2])
    assert a.shape == x.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    # Each image draws its own noise, so batching never changes its draws; its float results can still differ in
    # the last bits (CPU conv/attention kernels block differently per batch size, and differently on Intel and AMD),
    # which uint8 rounding turns into rare 1-level flips (measured on an AMD EPYC: max 1 level). More than that
    # would mean batch-dependent noise.
    diff = np.abs(a[1:2].astype(int) - c.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.005
    reseeded = FlipNetRunner(runner.model, DDIMFlipSampler(SCHEDULE, steps=3), seed=6, device="cpu").restore(x)
    assert (np.abs(reseeded.astype(int) - a.astype(int)) > 0).mean() > 0.5, "another seed draws other noise"
    d = runner.degrade(x)
    assert d.shape == x.shape and not np.array_equal(d, a)  # the other mode gives another output
    assert not np.array_equal(runner.degrade(x, variant=1), d)  # variants draw their own noise


def test_sampler_uses_the_requested_number_of_ddim_steps(monkeypatch):
    model = tiny_flipnet()
    calls = []
    real = model.eps
    monkeypatch.setattr(model, "eps", lambda *a: calls.append(1) or real(*a))
    DDIMFlipSampler(SCHEDULE, steps=4).sample(model, torch.rand(1, 3, 32, 32), "restore", torch.randn(1, 4, 8, 8))
    assert len(calls) == 4


def test_paper_backbone_offline_names_the_model_and_how_to_cache_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(AssetError) as err:
        load_pretrained(SD21_BASE)
    text = str(err.value)
    assert SD21_BASE in text and "from_pretrained" in text and "HF_HOME" in text


def test_strength_below_one_starts_from_the_noised_condition_with_fewer_steps(monkeypatch):
    model = tiny_flipnet()
    calls = []
    real = model.eps
    monkeypatch.setattr(model, "eps", lambda *a: calls.append(int(a[1])) or real(*a))
    DDIMFlipSampler(SCHEDULE, steps=10, strength=0.5).sample(model, torch.rand(1, 3, 32, 32), "restore",
                                                            torch.randn(1, 4, 8, 8))
    assert len(calls) == 5 and max(calls) < 600
    with pytest.raises(ValueError):
        DDIMFlipSampler(SCHEDULE, steps=10, strength=0.0)
