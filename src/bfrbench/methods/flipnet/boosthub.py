"""BoostHub: a cross-attention beside every self-attention of the UNet.

The UNet always runs on a pair stacked along the batch: the first half is the branch being denoised, the second
half the condition branch (the same UNet, same weights). Beside each self-attention (`attn1`) the BoostHub
processor adds, for the denoised half only,

    out = SelfAttn(x) + phi * W_O Attn(Q = W_Q x_den, K = W_K x_cond, V = W_V x_cond)

with W_O zero-initialised, so at initialisation the UNet is exactly the pretrained one. W_Q, W_K, W_V start as
copies of the self-attention's own projections (so the new branch starts by attending the way the layer already
does); only the BoostHub weights and the LoRA on the UNet's attention train.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F


class BoostHubProcessor(nn.Module):
    """Attention processor for a self-attention layer; holds the BoostHub weights (they appear in the UNet's
    state dict under `...attn1.processor.boost_*`)."""

    def __init__(self, attn, phi: float = 1.0):
        super().__init__()
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.inner = AttnProcessor2_0()
        self.phi = float(phi)
        self.boost_q = copy.deepcopy(_base_linear(attn.to_q))
        self.boost_k = copy.deepcopy(_base_linear(attn.to_k))
        self.boost_v = copy.deepcopy(_base_linear(attn.to_v))
        out = _base_linear(attn.to_out[0])
        self.boost_out = nn.Linear(out.in_features, out.out_features, bias=out.bias is not None)
        nn.init.zeros_(self.boost_out.weight)
        if self.boost_out.bias is not None:
            nn.init.zeros_(self.boost_out.bias)
        for m in (self.boost_q, self.boost_k, self.boost_v):
            m.requires_grad_(True)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        out = self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        if hidden_states.ndim != 3:
            raise ValueError("BoostHub expects (B, L, C) hidden states in a transformer block's self-attention")
        n = hidden_states.shape[0]
        if n % 2:
            raise ValueError(f"BoostHub needs the (denoised, condition) pair stacked along the batch, got batch {n}")
        den, cond = hidden_states[: n // 2], hidden_states[n // 2 :]
        heads = attn.heads
        q, k, v = self.boost_q(den), self.boost_k(cond), self.boost_v(cond)
        b, lq, inner = q.shape
        hd = inner // heads
        q, k, v = (t.view(b, -1, heads, hd).transpose(1, 2) for t in (q, k, v))
        boost = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, lq, inner)
        boost = self.boost_out(boost)
        return torch.cat([out[: n // 2] + self.phi * boost, out[n // 2 :]], dim=0)


def _base_linear(module: nn.Module) -> nn.Linear:
    """The plain nn.Linear inside a (possibly LoRA-wrapped) projection."""
    return getattr(module, "base_layer", module)


def install_boosthub(unet, phi: float = 1.0) -> list[str]:
    """Put a BoostHub processor on every self-attention (`attn1`) of `unet`; returns the layer names."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    procs = {}
    names = []
    modules = dict(unet.named_modules())
    for name in unet.attn_processors:
        layer = name[: -len(".processor")]
        if layer.endswith("attn1"):
            procs[name] = BoostHubProcessor(modules[layer], phi)
            names.append(layer)
        else:
            procs[name] = AttnProcessor2_0()
    unet.set_attn_processor(procs)
    return names


def boosthub_parameters(unet):
    return [p for n, p in unet.named_parameters() if ".processor.boost_" in n]
