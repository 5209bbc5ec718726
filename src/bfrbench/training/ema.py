"""Exponential moving average of a network's parameters (the `params_ema` that BFR papers release and test with)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(net: nn.Module) -> nn.Module:
    ema = copy.deepcopy(net)
    ema.requires_grad_(False)
    return ema.eval()


def warmup_decay(decay: float, updates: int) -> float:
    """The decay actually applied at update number `updates` (0-based): min(decay, (1 + n) / (10 + n)).

    Why: with a fixed decay the average keeps decay**n of the random initialisation (0.999**150 = 86% after a
    150-step run), so a short run would save mostly noise. The warm-up (TF's ExponentialMovingAverage with
    num_updates, as taming/LDM's LitEma) tracks the live weights early and reaches the configured decay after
    ~(10 decay - 1) / (1 - decay) updates (1,990 for 0.995, 9,990 for 0.999): nothing changes at paper scale."""
    return min(float(decay), (1.0 + updates) / (10.0 + updates))


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float, updates: int | None = None) -> None:
    """ema = d * ema + (1 - d) * net for parameters (d = warmup_decay(decay, updates), or decay when updates is
    None); buffers are copied."""
    d = float(decay) if updates is None else warmup_decay(decay, updates)
    for e, p in zip(ema.parameters(), net.parameters()):
        e.lerp_(p.detach(), 1.0 - d)
    for e, b in zip(ema.buffers(), net.buffers()):
        e.copy_(b)
