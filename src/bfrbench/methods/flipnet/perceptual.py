"""Perceptual loss for FLIPNET's stage-I autoencoders and the restoration-mode x0 loss.

`weights: imagenet` is the usual VGG16 perceptual loss (torchvision's ImageNet VGG16, fetched through the weights
registry entry `lpips_vgg16`, the same torchvision file). `weights: random` is a seeded, frozen, randomly initialised
VGG16: random conv features are a known texture/structure loss (Ulyanov et al., "Deep Image Prior" / random-network
texture synthesis) and are what the offline smoke profile uses, because no registry package ships ImageNet VGG
weights. It is never called a VGG perceptual loss in outputs: the card records `perceptual.weights`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bfrbench.errors import ConfigError

# Index of the ReLU after each named conv in torchvision's vgg16().features.
VGG16_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class VGGPerceptual(nn.Module):
    def __init__(self, weights: str = "imagenet", layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3"),
                 seed: int = 0):
        super().__init__()
        from torchvision.models import vgg16

        unknown = [name for name in layers if name not in VGG16_LAYERS]
        if unknown or not layers:
            raise ConfigError(f"perceptual.layers: {unknown or 'empty'}", fix=f"choose from {list(VGG16_LAYERS)}")
        if weights == "imagenet":
            from bfrbench.weights import weights_path

            net = vgg16(weights=None)
            state = torch.load(weights_path("lpips_vgg16"), map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        elif weights == "random":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net = vgg16(weights=None)
        else:
            raise ConfigError(f"perceptual.weights: {weights!r}", fix="use imagenet or random")
        last = max(VGG16_LAYERS[name] for name in layers)
        self.features = net.features[: last + 1].eval().requires_grad_(False)
        self.taps = sorted(VGG16_LAYERS[name] for name in layers)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):  # always frozen, always in eval mode
        return super().train(False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean L1 distance between the tapped feature maps of two [0, 1] image batches."""
        x = torch.cat([pred, target]).sub(self.mean).div(self.std)
        loss = pred.new_zeros(())
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                a, b = x.chunk(2)
                loss = loss + (a - b).abs().mean()
        return loss / len(self.taps)
