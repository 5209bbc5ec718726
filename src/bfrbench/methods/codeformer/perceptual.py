"""LPIPS (v0.1, VGG16) as a training loss: the `lpips_vgg` metric's network, from the same verified files.

CodeFormer trains with BasicSR's LPIPSLoss(use_input_norm=True, range_norm=True): [-1, 1] inputs are mapped to
[0, 1], ImageNet-normalised, and then passed through LPIPS (which applies its own scaling layer); kept as is. The
loss is the batch mean of the per-image LPIPS values.
"""

from __future__ import annotations

import torch
from torch import nn

from bfrbench.errors import AssetError, ConfigError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def random_lpips(seed: int = 0):
    """The LPIPS-VGG network with seeded random weights (non-negative heads, as trained ones are): the same
    architecture and compute as the real loss, for `bfrbench preflight` when the official files are absent. It is
    never LPIPS: the card records `loss.lpips_weights: random`."""
    from bfrbench.nets.lpips import LpipsNet

    net = LpipsNet("vgg")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()
        for head in net.heads:
            head.weight.data.abs_()
    return net.eval().requires_grad_(False)


class LPIPSLoss(nn.Module):
    def __init__(self, weights: str = "official"):
        super().__init__()
        from bfrbench.metrics.lpips import load_lpips, lpips_reason

        if weights == "random":
            self.lpips = random_lpips()
        elif weights != "official":
            raise ConfigError(f"loss.lpips_weights: {weights!r}", fix="use official or random")
        else:
            reason = lpips_reason("vgg")
            if reason:
                raise AssetError(f"the LPIPS training loss needs its weights: {reason}",
                                 fix="fetch them, or set the stage's `loss.lpips: 0` (the model card records it)")
            self.lpips = load_lpips("vgg")  # frozen; gradients still flow to the inputs
        self.register_buffer("in_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("in_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _input_norm(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2 - self.in_mean) / self.in_std

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.lpips(self._input_norm(pred), self._input_norm(target)).mean()


def build_perceptual(weight: float, weights: str = "official") -> nn.Module | None:
    return LPIPSLoss(weights) if weight > 0 else None
