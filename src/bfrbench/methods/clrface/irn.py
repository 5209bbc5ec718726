"""CLR-Face stage 3 networks: the Identity Recovery Network and the learnable latent mask.

IRN: predicts the clean face's face-recognition descriptor from the DEGRADED face. It has the face-recognition
net's own architecture (dlib ResNet on a 150x150 chip) and starts from its pretrained weights, so it begins as
"the recogniser applied to the LQ face" and learns to undo the degradation's effect on the descriptor.

Latent mask: one logit per latent feature (channel x row x column of the VQGAN latent; faces are aligned, so a
position means the same facial region in every face). Trained soft (sigmoid); at sampling time the top `fraction`
of logits form the binary mask on which identity guidance acts.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from bfrbench.methods.clrface.face_id import face_chip


class IdentityRecoveryNet(nn.Module):
    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, lq: torch.Tensor) -> torch.Tensor:
        """LQ faces in [0, 1] -> unit-norm predicted clean-face descriptors."""
        return F.normalize(self.backbone(face_chip(lq)), dim=1)


class LatentMask(nn.Module):
    def __init__(self, channels: int, height: int, width: int, init_logit: float = 0.0):
        super().__init__()
        self.logits = nn.Parameter(torch.full((channels, height, width), float(init_logit)))

    def soft(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    @torch.no_grad()
    def hard(self, fraction: float) -> torch.Tensor:
        """Binary mask of the top `fraction` of features by logit (ties broken by position: deterministic)."""
        flat = self.logits.flatten()
        k = max(1, min(flat.numel(), round(fraction * flat.numel())))
        keep = torch.zeros_like(flat)
        keep[torch.topk(flat, k, sorted=True).indices] = 1.0
        return keep.view_as(self.logits)
