"""The LPIPS v0.1 network (Zhang et al. 2018): an ImageNet trunk (AlexNet or VGG16) and the learned linear heads.

One implementation for every use: the `lpips_alex` / `lpips_vgg` metrics and the LPIPS training loss of CodeFormer
(`bfrbench.methods.codeformer.perceptual`) both build this module through `bfrbench.metrics.lpips.load_lpips`,
from the same verified registry files.

Forward, as the reference `lpips` package (v0.1) with `normalize=False`: the v0.1 scaling layer (x - shift) / scale
on the inputs; trunk features after the ReLUs of the five stages (AlexNet relu1-relu5, VGG16 relu1_2, 2_2, 3_3, 4_3,
5_3); each feature map unit-normalised over channels (eps 1e-10); squared difference; the 1x1 linear head; mean over
space; summed over the five stages. One value per image of the batch.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torchvision
from torch import nn

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# trunk -> (torchvision builder, stage boundaries in `features`: stage k is features[bounds[k]:bounds[k+1]], ending
# just after a ReLU, channels per stage)
TRUNKS = {
    "alex": ("alexnet", (0, 2, 5, 8, 10, 12), (64, 192, 384, 256, 256)),
    "vgg": ("vgg16", (0, 4, 9, 16, 23, 30), (64, 128, 256, 512, 512)),
}


class LpipsNet(nn.Module):
    """LPIPS of two batches N x 3 x H x W on the reference's input scale ([-1, 1] images): a tensor of N values.

    Built with no weights in it (meta device, then empty CPU storage): `load` fills every tensor from the official
    files, strictly, so nothing random is ever left in a network that reports LPIPS.
    """

    def __init__(self, trunk: str):
        super().__init__()
        if trunk not in TRUNKS:
            raise ValueError(f"LPIPS trunk must be one of {sorted(TRUNKS)}, got '{trunk}'")
        builder, bounds, channels = TRUNKS[trunk]
        with torch.device("meta"):  # no random init of the 100M+ classifier weights that LPIPS never uses
            features = getattr(torchvision.models, builder)(weights=None).features
            heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in channels)
        self.trunk = trunk
        self.stages = nn.ModuleList(features[a:b] for a, b in zip(bounds[:-1], bounds[1:])).to_empty(device="cpu")
        self.heads = heads.to_empty(device="cpu")
        # Constants of the method, not weights: kept out of state_dict (a training checkpoint holding this loss).
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    def load(self, trunk_state: Mapping[str, torch.Tensor], head_state: Mapping[str, torch.Tensor]) -> LpipsNet:
        """Fill the trunk from a torchvision state dict (`features.N.*`) and the heads from the v0.1 head file."""
        _, bounds, _ = TRUNKS[self.trunk]
        # torchvision names `features.<layer>.<param>`; here the layers are grouped by stage: `<stage>.<layer>.<param>`
        # (a slice of nn.Sequential keeps the layer numbers)
        stage_of = {layer: k for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])) for layer in range(a, b)}
        trunk = {}
        for name, value in trunk_state.items():
            layer, _, param = name.removeprefix("features.").partition(".")
            if name.startswith("features.") and int(layer) in stage_of:
                trunk[f"{stage_of[int(layer)]}.{layer}.{param}"] = value
        self.stages.load_state_dict(trunk, strict=True)  # strict: every trunk tensor comes from the verified file
        heads = {f"{k}.weight": head_state[f"lin{k}.model.1.weight"] for k in range(len(self.heads))}
        self.heads.load_state_dict(heads, strict=True)
        return self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = (x - self.shift) / self.scale, (y - self.shift) / self.scale
        total = 0
        for stage, head in zip(self.stages, self.heads):
            x, y = stage(x), stage(y)
            nx = x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + 1e-10)
            ny = y / (torch.sqrt(torch.sum(y**2, dim=1, keepdim=True)) + 1e-10)
            total = total + head((nx - ny) ** 2).mean(dim=(2, 3), keepdim=True)
        return total.flatten()
