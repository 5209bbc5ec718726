"""Face-recognition features on FFHQ-aligned crops: a differentiable chip cut, identity and perceptual losses.

dlib's descriptor wants a 150x150 chip cut around the 5 landmarks. Our faces are FFHQ-aligned, so the chip is cut
from a FIXED box (the mean dlib HOG box on FFHQ-aligned crops, shared with the `ids_dlib` metric) widened by
dlib's chip padding; a fixed box keeps the cut differentiable, batched and deterministic.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from bfrbench.metrics.ids_dlib import CHIP_PADDING, FFHQ_FACE_BOX
from bfrbench.nets.dlib_resnet import CHIP_SIZE


def chip_box(height: int, width: int, padding: float = CHIP_PADDING) -> tuple[int, int, int, int]:
    left, top, right, bottom = FFHQ_FACE_BOX
    pw, ph = (right - left) * padding, (bottom - top) * padding
    box = (max(0.0, left - pw), max(0.0, top - ph), min(1.0, right + pw), min(1.0, bottom + ph))
    return round(box[0] * width), round(box[1] * height), round(box[2] * width), round(box[3] * height)


def face_chip(images: torch.Tensor, size: int = CHIP_SIZE) -> torch.Tensor:
    """N x 3 x H x W in [0, 1] -> N x 3 x size x size face chips (bilinear, antialiased, differentiable)."""
    x0, y0, x1, y1 = chip_box(images.shape[2], images.shape[3])
    crop = images[:, :, y0:y1, x0:x1]
    return F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class FaceIdentity(nn.Module):
    """Wraps a frozen face-recognition net: `embed(images)` -> unit descriptors, `loss(images, target)`."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.eval().requires_grad_(False)

    def train(self, mode: bool = True):  # the recogniser stays in eval mode
        super().train(mode)
        self.net.eval()
        return self

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(face_chip(images)), dim=1)

    def loss(self, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean (1 - cosine) between the images' descriptors and target descriptors (any scale)."""
        return (1 - (self.embed(images) * F.normalize(target, dim=1)).sum(1)).mean()


class RecognitionPerceptual(nn.Module):
    """Perceptual loss on a real face-recognition net's feature maps (L1 of channel-normalized activations).

    The usual LPIPS/VGG trunk is download-only; the dlib net ships in a registry package and is trained on faces.
    """

    def __init__(self, net: nn.Module, layers: tuple[int, ...] = (0, 3, 7)):
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.layers = layers

    def train(self, mode: bool = True):
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        both = F.interpolate(torch.cat([pred, target]), size=(CHIP_SIZE, CHIP_SIZE), mode="bilinear",
                             align_corners=False, antialias=True)
        feats = self.net.features(both, upto=max(self.layers))
        loss = pred.new_zeros(())
        for i in self.layers:
            a, b = feats[i].chunk(2)
            loss = loss + F.l1_loss(F.normalize(a, dim=1), F.normalize(b, dim=1))
        return loss / len(self.layers)


RANDOM_RECOGNISER = "dlib_resnet_random"


def recognition_net(name: str) -> nn.Module:
    """The real, pretrained face-recognition net by name (tests inject their own module instead)."""
    if name == "dlib_resnet":
        from bfrbench.nets.dlib_resnet import load_dlib_resnet

        return load_dlib_resnet()
    if name == RANDOM_RECOGNISER:  # bfrbench preflight without the weights: the same network, seeded random init
        from bfrbench.nets.dlib_resnet import DlibResNet

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return DlibResNet().eval().requires_grad_(False)
    from bfrbench.errors import ConfigError

    raise ConfigError(f"face_recognition: unknown network {name!r}", fix=f"use dlib_resnet (or {RANDOM_RECOGNISER})")
