"""ArcFace ResNet-18 for 128x128 grayscale faces: the `resnet_face18(use_se=False)` of ronghuaiyang/arcface-pytorch.

This is the network behind the field's identity metric ("Deg.", VQFR metric_paper/calculate_cos_dist.py, weights
resnet18_110.pth) and GFPGAN's identity loss (arcface_resnet18.pth, `ResNetArcFace(block='IRBlock', layers=[2,2,2,2],
use_se=False)`). Written for bfrbench from the published layer list; parameter names and shapes match the official
checkpoints so they load with strict=True (the manifest is tests/metrics/data/arcface_resnet18_keys.json).

Layout: 3x3 conv 1->64, BN, PReLU, 2x2 max-pool; four stages of two improved residual blocks (64, 128, 256, 512
channels; stride 2 in the first block of stages 2-4); BN, dropout, flatten 512x8x8, linear 32768->512, BN1d.
Improved residual block: BN -> conv3x3 (same width) -> BN -> PReLU -> conv3x3 (stride) -> BN, plus the shortcut
(1x1 conv + BN when shape changes), then the SAME PReLU again (one shared slope per block).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))
BLOCKS_PER_STAGE = 2
EMBEDDING_DIM = 512
INPUT_SIZE = 128


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class ImprovedResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(cin)
        self.conv1 = _conv3x3(cin, cin)
        self.bn1 = nn.BatchNorm2d(cin)
        self.prelu = nn.PReLU()
        self.conv2 = _conv3x3(cin, cout, stride)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.prelu(self.bn1(self.conv1(self.bn0(x))))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.prelu(out + shortcut)


class ArcFaceResNet18(nn.Module):
    """Input N x 1 x 128 x 128 in [-1, 1] ((gray - 127.5) / 127.5); output N x 512 (not normalised)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.prelu = nn.PReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        cin = 64
        for i, (cout, stride) in enumerate(STAGES, start=1):
            blocks = [ImprovedResidualBlock(cin, cout, stride)]
            blocks += [ImprovedResidualBlock(cout, cout) for _ in range(BLOCKS_PER_STAGE - 1)]
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            cin = cout
        self.bn4 = nn.BatchNorm2d(512)
        self.dropout = nn.Dropout()
        self.fc5 = nn.Linear(512 * 8 * 8, EMBEDDING_DIM)
        self.bn5 = nn.BatchNorm1d(EMBEDDING_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.prelu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(self.bn4(x))
        return self.bn5(self.fc5(x.flatten(1)))


def strip_data_parallel(state_dict: Mapping[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """The official files were saved from torch.nn.DataParallel: every name starts with 'module.'."""
    return OrderedDict((k[len("module."):] if k.startswith("module.") else k, v) for k, v in state_dict.items())


def load_arcface_resnet18(path: str) -> ArcFaceResNet18:
    """The network with the checkpoint at `path` (resnet18_110.pth or arcface_resnet18.pth), eval mode, frozen.

    Strict loading; checkpoints saved before PyTorch 0.4.1 lack BatchNorm's num_batches_tracked, which torch's own
    BatchNorm loader fills in (it is unused in eval mode).
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and "state_dict" in state and not any(k.endswith(".weight") for k in state):
        state = state["state_dict"]
    net = ArcFaceResNet18()
    net.load_state_dict(strip_data_parallel(state), strict=True)
    return net.eval().requires_grad_(False)
