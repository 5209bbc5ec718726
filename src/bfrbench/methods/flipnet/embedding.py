"""FLIPNET's BFR-oriented face embedding: one convolutional autoencoder per domain (HQ, LQ) whose encoder's
spatial feature map is the embedding (one token per patch), plus the patch-wise alignment loss of stage II.

The paper gives the training recipe (stage I: separate HQ and LQ autoencoders; stage II: an N x N patch
similarity between HQ and LQ patch features with cross-entropy on the diagonal) but not the layers; the layer
choices here are documented in docs/methods/flipnet.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def _groups(ch: int) -> int:
    return min(8, ch)


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1),
                                  nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FaceEncoder(nn.Module):
    """Image in [0, 1] (B, 3, H, W) -> patch features (B, dim, H / 2^k, W / 2^k), k = len(channels)."""

    def __init__(self, channels: Sequence[int], dim: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 3, padding=1)]
        prev = channels[0]
        for ch in channels:
            layers += [ResBlock(prev), nn.Conv2d(prev, ch, 4, stride=2, padding=1)]
            prev = ch
        layers += [ResBlock(prev), nn.GroupNorm(_groups(prev), prev), nn.SiLU(), nn.Conv2d(prev, dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.net(img * 2 - 1)


class FaceDecoder(nn.Module):
    """Patch features -> image in [0, 1] (the autoencoder half that makes stage I a reconstruction task)."""

    def __init__(self, channels: Sequence[int], dim: int):
        super().__init__()
        rev = list(channels)[::-1]
        layers: list[nn.Module] = [nn.Conv2d(dim, rev[0], 3, padding=1), ResBlock(rev[0])]
        prev = rev[0]
        for ch in rev[1:] + [rev[-1]]:
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(prev, ch, 3, padding=1), ResBlock(ch)]
            prev = ch
        layers += [nn.GroupNorm(_groups(prev), prev), nn.SiLU(), nn.Conv2d(prev, 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return (self.net(feats).tanh() + 1) / 2


class FaceAutoencoder(nn.Module):
    def __init__(self, channels: Sequence[int], dim: int):
        super().__init__()
        self.encoder = FaceEncoder(channels, dim)
        self.decoder = FaceDecoder(channels, dim)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(img))


class PatchDiscriminator(nn.Module):
    """A small PatchGAN (hinge loss) for the adversarial term of stage I."""

    def __init__(self, channels: Sequence[int]):
        super().__init__()
        layers: list[nn.Module] = []
        prev = 3
        for i, ch in enumerate(channels):
            layers += [nn.Conv2d(prev, ch, 4, stride=2, padding=1)]
            if i:
                layers += [nn.GroupNorm(_groups(ch), ch)]
            layers += [nn.LeakyReLU(0.2)]
            prev = ch
        layers += [nn.Conv2d(prev, 1, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.net(img * 2 - 1)


def patch_tokens(feats: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, N = h*w, C), patches in raster order."""
    return feats.flatten(2).transpose(1, 2)


def patch_alignment_loss(hq_tokens: torch.Tensor, lq_tokens: torch.Tensor, logit_scale: torch.Tensor) -> dict:
    """Stage II: for each image, the N x N cosine similarity between its LQ and HQ patch tokens; cross-entropy with
    the diagonal as target, in both directions (CLIP's symmetric loss, taken patch-wise inside each face)."""
    hq = F.normalize(hq_tokens, dim=-1)
    lq = F.normalize(lq_tokens, dim=-1)
    logits = logit_scale.exp().clamp(max=100.0) * lq @ hq.transpose(1, 2)  # (B, N, N)
    b, n, _ = logits.shape
    target = torch.arange(n, device=logits.device).expand(b, n).reshape(-1)
    loss_lq = F.cross_entropy(logits.reshape(b * n, n), target)
    loss_hq = F.cross_entropy(logits.transpose(1, 2).reshape(b * n, n), target)
    acc = (logits.argmax(-1) == torch.arange(n, device=logits.device)).float().mean()
    return {"loss": (loss_lq + loss_hq) / 2, "top1": acc}


class FaceEmbedding(nn.Module):
    """The two encoders after stage II: `embed(img, domain)` gives (B, N, dim) tokens for the adapter.

    Restoration mode embeds the LQ condition with the LQ encoder (aligned to the HQ patch space in stage II);
    degradation mode embeds the HQ condition with the HQ encoder."""

    def __init__(self, channels: Sequence[int], dim: int, proj_dim: int):
        super().__init__()
        self.hq = FaceEncoder(channels, dim)
        self.lq = FaceEncoder(channels, dim)
        self.hq_proj = nn.Linear(dim, proj_dim)
        self.lq_proj = nn.Linear(dim, proj_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(torch.log(torch.tensor(1 / 0.07)))))

    def embed(self, img: torch.Tensor, domain: str) -> torch.Tensor:
        if domain == "hq":
            return self.hq_proj(patch_tokens(self.hq(img)))
        if domain == "lq":
            return self.lq_proj(patch_tokens(self.lq(img)))
        raise ValueError(f"domain must be 'hq' or 'lq', got {domain!r}")
