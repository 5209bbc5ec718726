"""CodeFormer's GAN losses: hinge loss (BasicSR GANLoss 'hinge') and the VQGAN adaptive generator weight."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def hinge_d_loss(real_pred: torch.Tensor, fake_pred: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_pred).mean() + F.relu(1.0 + fake_pred).mean()


def hinge_g_loss(fake_pred: torch.Tensor) -> torch.Tensor:
    return -fake_pred.mean()


def adaptive_weight(recon_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor,
                    max_weight: float = 1.0) -> torch.Tensor:
    """Balance the GAN gradient against the reconstruction gradient at the generator's last layer (Taming)."""
    recon_grads = torch.autograd.grad(recon_loss, last_layer, retain_graph=True)[0]
    g_grads = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return torch.clamp(recon_grads.norm() / (g_grads.norm() + 1e-4), 0.0, max_weight).detach()
