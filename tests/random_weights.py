"""Fixtures shared by the metric tests (a plugin registered by tests/conftest.py): networks with RANDOM weights
standing in for download-only official weights.

A random network exercises code paths and compares implementations with each other on the same weights; its numbers
are never a metric's value and never appear under a metric's name outside these tests.
"""

from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture(scope="session")
def random_inception_state():
    """A random FID-Inception state dict. He-scaled convolutions and perturbed batch norms keep the activations O(1)
    through all 94 conv layers (default init shrinks pool3 features to ~1e-7, which would make any comparison pass)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("pytorch_fid")
    from bfrbench.metrics.inception import build_fid_inception

    torch.manual_seed(0)
    state = build_fid_inception().state_dict()
    gen = torch.Generator().manual_seed(1)
    for key, value in state.items():
        if key.endswith("conv.weight"):
            state[key] = torch.randn(value.shape, generator=gen) * (2.0 / value[0].numel()) ** 0.5
        elif key.endswith("bn.weight"):
            state[key] = 1 + 0.1 * torch.randn(value.shape, generator=gen)
        elif key.endswith(("bn.bias", "running_mean")):
            state[key] = 0.1 * torch.randn(value.shape, generator=gen)
        elif key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
    return state


@pytest.fixture(scope="session")
def random_inception_file(random_inception_state, tmp_path_factory):
    import torch

    from bfrbench.assets import sha256_file

    folder = tmp_path_factory.mktemp("random_inception")
    path = folder / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(random_inception_state, path)
    return path, sha256_file(path)


@pytest.fixture
def random_inception(random_inception_file, tmp_path, monkeypatch):
    """The random Inception installed as the `inception_fid` entry (its sha256 swapped in for this test only), an
    empty cache: every FID/KID metric runs, on random weights."""
    from bfrbench import weights

    path, digest = random_inception_file
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(path.parent))
    asset = weights.WEIGHTS["inception_fid"]
    monkeypatch.setitem(weights.WEIGHTS, "inception_fid", dataclasses.replace(asset, sha256=digest))
    return path


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An empty cache and an empty local weights folder: every download-only entry is absent."""
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(tmp_path / "no_weights"))
    (tmp_path / "no_weights").mkdir()
    return tmp_path / "no_weights"
