"""LPIPS (v0.1, VGG16) as a training loss, built from the weights registry (torchvision VGG16 + LPIPS heads).

CodeFormer trains with BasicSR's LPIPSLoss(use_input_norm=True, range_norm=True): [-1, 1] inputs are mapped to
[0, 1], ImageNet-normalised, and then passed through LPIPS (which applies its own scaling layer); kept as is.
"""

from __future__ import annotations

import torch
from torch import nn

from bfrbench.errors import AssetError

VGG_SLICES = (4, 9, 16, 23, 30)  # after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
VGG_CHANNELS = (64, 128, 256, 512, 512)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LPIPS_SHIFT, LPIPS_SCALE = (-0.030, -0.088, -0.188), (0.458, 0.448, 0.450)


def lpips_weights_reason() -> str | None:
    from bfrbench.weights import weights_reason

    for name in ("lpips_vgg16", "lpips_v0.1_vgg_head"):
        reason = weights_reason(name)
        if reason:
            return reason
    return None


class LPIPSLoss(nn.Module):
    def __init__(self):
        super().__init__()
        import torchvision

        from bfrbench.weights import weights_path

        reason = lpips_weights_reason()
        if reason:
            raise AssetError(f"the LPIPS training loss needs its weights: {reason}",
                             fix="fetch them, or set the stage's `losses.lpips: 0` (the model card records it)")
        vgg = torchvision.models.vgg16(weights=None)
        vgg.load_state_dict(torch.load(weights_path("lpips_vgg16"), map_location="cpu", weights_only=True))
        self.features = vgg.features[: VGG_SLICES[-1]].eval().requires_grad_(False)
        heads = torch.load(weights_path("lpips_v0.1_vgg_head"), map_location="cpu", weights_only=True)
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in VGG_CHANNELS)
        for i, head in enumerate(self.heads):
            head.weight.data.copy_(heads[f"lin{i}.model.1.weight"])
        self.heads.requires_grad_(False)
        for name, value in (("in_mean", IMAGENET_MEAN), ("in_std", IMAGENET_STD), ("shift", LPIPS_SHIFT),
                            ("scale", LPIPS_SCALE)):
            self.register_buffer(name, torch.tensor(value).view(1, 3, 1, 1), persistent=False)

    def _feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (((x + 1) / 2 - self.in_mean) / self.in_std - self.shift) / self.scale
        out, start = [], 0
        for end in VGG_SLICES:
            x = self.features[start:end](x)
            out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
            start = end
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for head, a, b in zip(self.heads, self._feats(pred), self._feats(target)):
            total = total + head((a - b) ** 2).mean(dim=(2, 3))
        return total.mean()


def build_perceptual(weight: float) -> nn.Module | None:
    return LPIPSLoss() if weight > 0 else None
