"""Exponential moving average of a network's parameters (the `params_ema` that BFR papers release and test with).

Why our own and not Lightning's `EMAWeightAveraging` / torch's `AveragedModel`: those average the whole
LightningModule (discriminators, frozen priors and recognisers included: several GB of needless copies for FLIPNET's
SD backbone) and swap the averaged weights into the module for validation and at the end of fit, whereas every
method here keeps the EMA of ONE network beside the live one (`net_ema`, CodeFormer's and DifFace's `params_ema`
layout) and exports both. They have no decay warm-up either (see `warmup_decay`). The update runs in the module's
`optimizer_step` / after `opt.step()`, before `ModelCheckpoint` saves, so a resumed run continues the same average.
"""

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
    ~(10 decay - 1) / (1 - decay) updates (1,790 for 0.995, 8,990 for 0.999): nothing changes at paper scale."""
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
