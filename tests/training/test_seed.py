"""bfrbench's seed_everything leaves the state Lightning's seed_everything(seed, workers=True) leaves."""

import os
import random

import numpy as np
import pytest
import torch

from bfrbench.training.stage import seed_everything


def _state():
    return (random.getstate(), np.random.get_state()[1].tobytes(), torch.get_rng_state().numpy().tobytes(),
            os.environ.get("PL_GLOBAL_SEED"), os.environ.get("PL_SEED_WORKERS"))


@pytest.mark.parametrize("seed", [0, 20251123, 2**32 - 1])
def test_same_generators_and_variables_as_lightning(seed, monkeypatch):
    import lightning as L

    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    monkeypatch.delenv("PL_SEED_WORKERS", raising=False)
    L.seed_everything(seed, workers=True, verbose=False)
    theirs = _state()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    monkeypatch.delenv("PL_GLOBAL_SEED")
    seed_everything(seed)
    assert _state() == theirs


def test_out_of_bounds_seed_is_refused():
    with pytest.raises(ValueError, match="not in bounds"):
        seed_everything(2**32)
