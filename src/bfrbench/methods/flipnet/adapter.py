"""The adapter that turns the face embedding into the UNet's cross-attention tokens (in place of CLIP text tokens).

Each embedding patch token goes through LayerNorm -> Linear -> GELU -> Linear into the cross-attention width, plus a
learned position embedding per patch (cross-attention is permutation invariant, the patches are not). One learned
mode token is appended: mode 0 = restoration (denoise HQ given LQ), mode 1 = degradation (denoise LQ given HQ), so
the one set of weights knows which way it runs."""

from __future__ import annotations

import torch
from torch import nn

MODES = {"restore": 0, "degrade": 1}


class EmbeddingAdapter(nn.Module):
    def __init__(self, embed_dim: int, cross_dim: int, num_patches: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or cross_dim
        self.proj = nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, hidden), nn.GELU(),
                                  nn.Linear(hidden, cross_dim))
        self.pos = nn.Parameter(torch.randn(1, num_patches, cross_dim) * 0.02)
        self.mode = nn.Embedding(len(MODES), cross_dim)
        nn.init.normal_(self.mode.weight, std=0.02)
        self.out_norm = nn.LayerNorm(cross_dim)

    def forward(self, tokens: torch.Tensor, mode: torch.Tensor) -> torch.Tensor:
        """tokens (B, N, embed_dim), mode (B,) long -> (B, N + 1, cross_dim)."""
        if tokens.shape[1] != self.pos.shape[1]:
            raise ValueError(f"adapter built for {self.pos.shape[1]} patches, got {tokens.shape[1]}")
        x = self.proj(tokens) + self.pos
        x = torch.cat([x, self.mode(mode)[:, None]], dim=1)
        return self.out_norm(x)
