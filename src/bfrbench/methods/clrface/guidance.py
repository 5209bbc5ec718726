"""Identity guidance for CLR-Face's reverse diffusion, acting ONLY on the masked latent features.

At a guided step: estimate the clean latent x0 from the current score (Tweedie), decode it, measure
1 - cos(FR(decoded), IRN target) with the differentiable face-recognition net, and move x against the gradient
on the masked features only: x <- x - scale * mask * g / mean|g|. The gradient is taken with respect to x0 with the
score held fixed (no back-propagation through the score net): cheaper, and the usual choice in classifier-style
guidance of latent samplers. Normalising by mean|g| makes `scale` a step size in latent units (unit variance).
"""

from __future__ import annotations

import torch

from bfrbench.methods.clrface.face_id import FaceIdentity
from bfrbench.methods.clrface.vqgan import VQGAN


class IdentityGuidance:
    def __init__(self, vqgan: VQGAN, face_id: FaceIdentity, sde, latent_scale: float, mask: torch.Tensor,
                 target: torch.Tensor, scale: float, t_max: float):
        self.vqgan, self.face_id, self.sde = vqgan, face_id, sde
        self.latent_scale, self.mask, self.target = latent_scale, mask, target
        self.scale, self.t_max = scale, t_max

    def gradient(self, x0: torch.Tensor) -> torch.Tensor:
        x0 = x0.detach().requires_grad_(True)
        images = self.vqgan.decode(x0 / self.latent_scale)
        cos = (self.face_id.embed(images) * torch.nn.functional.normalize(self.target, dim=1)).sum(1)
        (grad,) = torch.autograd.grad((1 - cos).sum(), x0)
        return grad

    def active(self, t: torch.Tensor) -> bool:
        return self.scale != 0 and float(t[0]) <= self.t_max

    def __call__(self, x: torch.Tensor, t: torch.Tensor, score: torch.Tensor) -> torch.Tensor | None:
        if not self.active(t):
            return None
        mean, std = self.sde.marginal(t)
        x0 = (x + std.view(-1, 1, 1, 1) ** 2 * score) / mean.view(-1, 1, 1, 1)
        g = self.gradient(x0)
        g = g / g.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
        return -self.scale * self.mask * g
