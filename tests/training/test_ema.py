"""The EMA copy that CodeFormer and DifFace save: warm-up early, the configured decay later."""

from __future__ import annotations

import pytest
import torch

from bfrbench.training.ema import make_ema, update_ema, warmup_decay


def test_warmup_reaches_the_configured_decay():
    assert warmup_decay(0.999, 0) == pytest.approx(0.1)
    assert warmup_decay(0.995, 100) == pytest.approx(101 / 110)
    assert warmup_decay(0.995, 1990) == pytest.approx(0.995)
    assert warmup_decay(0.995, 100_000) == 0.995


def test_short_run_average_forgets_the_initialisation():
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 4)
    ema_fixed, ema_warm = make_ema(net), make_ema(net)
    init = net.weight.detach().clone()
    target = torch.randn(4, 4)
    for step in range(150):  # the live weights jump to `target` and stay there
        net.weight.data.copy_(target)
        update_ema(ema_fixed, net, 0.999)
        update_ema(ema_warm, net, 0.999, step)
    def share_init(ema):
        return float((ema.weight - target).norm() / (init - target).norm())
    assert share_init(ema_fixed) == pytest.approx(0.999**150, rel=1e-4)  # 86% of the random init left
    assert share_init(ema_warm) < 0.01
    assert not ema_warm.weight.requires_grad
