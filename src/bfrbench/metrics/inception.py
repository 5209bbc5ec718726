"""The FID Inception network (pt_inception-2015-12-05: TF Inception-v3 ported by pytorch-fid) and its three
input conventions.

The network is torchvision's Inception-v3 with pytorch-fid's FID-specific blocks (FIDInceptionA/C/E_1/E_2: the TF
graph's average pooling without padding counted, max pooling in the last block), built from the pinned `pytorch-fid`
package WITHOUT its downloader: the weights come from our registry (`bfrbench.weights`, sha256-checked) and load with
strict key matching. Features = the 2048-d output of the final average pool ("pool3").

Input conventions (all start from 8-bit RGB):
- "basicsr": x/255 in float32 -> (x-0.5)/0.5 -> bilinear resize to 299x299 (align_corners=False). BasicSR's
  calculate_fid_folder (SingleImageDataset mean/std 0.5, load_patched_inception_v3(resize_input=True,
  normalize_input=False)), as GFPGAN and VQFR use it.
- "pytorch_fid": x/255 -> bilinear resize to 299x299 -> 2x-1 (pytorch-fid's InceptionV3 defaults).
- "clean": each channel resized as float with PIL bicubic to 299x299, clipped to [0,255], then (x-128)/128 and no
  resize inside the network (clean-fid's "clean" mode as pyiqa's FID applies it to this network).
"""

from __future__ import annotations

import numpy as np

INPUT_SIZE = 299
FEATURE_DIM = 2048
CONVENTIONS = ("basicsr", "pytorch_fid", "clean")


def build_fid_inception():
    """The FID Inception-v3 graph with random (untrained) parameters; load weights with `load_fid_inception`."""
    import torchvision
    from pytorch_fid.inception import (
        FIDInceptionA,
        FIDInceptionC,
        FIDInceptionE_1,
        FIDInceptionE_2,
    )

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net.eval().requires_grad_(False)


def load_fid_inception(path, device: str = "cpu"):
    """The network with the pt_inception-2015-12-05 state dict at `path` (strict: every key and shape must match)."""
    import torch

    net = build_fid_inception()
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.to(device)


def pool3_features(net, x):
    """N x 2048 pool3 features of a prepared N x 3 x H x W float tensor (already in the network's [-1,1] range)."""
    import torch

    layers = (
        net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1,
        net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, net.maxpool2,
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e,
        net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, net.avgpool,
    )
    with torch.no_grad():
        for layer in layers:
            x = layer(x)
    return x.flatten(1)


def _bilinear_299(x):
    import torch.nn.functional as F

    return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)


def _clean_resize(image: np.ndarray) -> np.ndarray:
    """clean-fid's resize: each channel as a float32 PIL image, bicubic to 299x299, clipped to [0,255]."""
    from PIL import Image

    channels = []
    for c in range(3):
        plane = Image.fromarray(image[:, :, c].astype(np.float32), mode="F")
        plane = plane.resize((INPUT_SIZE, INPUT_SIZE), resample=Image.BICUBIC)
        channels.append(np.asarray(plane).clip(0, 255))
    return np.stack(channels, axis=0).astype(np.float32)


def prepare(batch: np.ndarray, convention: str):
    """uint8 RGB N x H x W x 3 -> float32 N x 3 x 299 x 299 network input in the given convention."""
    import torch

    if convention == "clean":
        return (torch.from_numpy(np.stack([_clean_resize(img) for img in batch])) - 128) / 128
    x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).float() / 255.0
    if convention == "basicsr":
        return _bilinear_299((x - 0.5) / 0.5)
    if convention == "pytorch_fid":
        return 2 * _bilinear_299(x) - 1
    raise ValueError(f"unknown Inception input convention {convention!r}; known: {CONVENTIONS}")


def inception_features(net, batch: np.ndarray, convention: str, device: str = "cpu") -> np.ndarray:
    """N x 2048 float32 pool3 features of a uint8 RGB batch."""
    return pool3_features(net, prepare(batch, convention).to(device)).cpu().numpy()
