"""LPIPS v0.1 (Zhang et al. 2018) with the AlexNet (`lpips_alex`) or VGG16 (`lpips_vgg`) ImageNet trunk.

Protocol, as in the reference `lpips` package (v0.1) and pyiqa's `lpips` / `lpips-vgg`:
- RGB in [-1, 1] (uint8 / 127.5 - 1), then the v0.1 scaling layer (x - shift) / scale;
- trunk features after the ReLUs of the five stages (AlexNet relu1-relu5, VGG16 relu1_2, 2_2, 3_3, 4_3, 5_3);
- each feature map unit-normalised over channels (eps 1e-10), squared difference, the learned 1x1 linear head,
  mean over space, summed over the five stages. float32, as the reference.

Why our own ~60 lines and not the `lpips` package as the engine: the package builds its trunks through torchvision's
deprecated `pretrained=` argument and pyiqa's LPIPS always downloads the trunk (even with `pnet_rand=True`); here the
trunk and heads come only from the weights registry, verified, and nothing is downloaded at score time. Both
libraries are the calibration references in tests/metrics/test_lpips.py.

Each image is scored on its own, so its value does not depend on which other images share the batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bfrbench.errors import AssetError
from bfrbench.metrics.base import Metric
from bfrbench.metrics.registry import MetricSpec
from bfrbench.metrics.weights_check import missing_reason, resolve

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# trunk name -> (torchvision builder, registry entry of the trunk, registry entry of the heads, stage boundaries in
# `features`: stage k is features[bounds[k]:bounds[k+1]], ending just after a ReLU, channels per stage)
TRUNKS = {
    "alex": ("alexnet", "lpips_alexnet", "lpips_v0.1_alex_head", (0, 2, 5, 8, 10, 12), (64, 192, 384, 256, 256)),
    "vgg": ("vgg16", "lpips_vgg16", "lpips_v0.1_vgg_head", (0, 4, 9, 16, 23, 30), (64, 128, 256, 512, 512)),
}
MIN_SIZE = 32  # smaller inputs leave AlexNet's last stages with no spatial extent


def packaged_heads(trunk: str) -> dict[str, Path]:
    """The byte-identical heads the pinned `lpips` package ships, if it is installed (accepted by sha256 only)."""
    import importlib.util

    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return {}
    folder = Path(list(spec.submodule_search_locations)[0]) / "weights" / "v0.1"
    return {TRUNKS[trunk][2]: folder / f"{trunk}.pth"}


def build_lpips(trunk: str, trunk_state: dict, head_state: dict):
    """The LPIPS network as a torch Module from a torchvision trunk state dict and the v0.1 head state dict."""
    import torch
    import torchvision

    builder, _, _, bounds, channels = TRUNKS[trunk]
    with torch.device("meta"):  # no random init of 100M+ classifier weights that LPIPS never uses
        features = getattr(torchvision.models, builder)(weights=None).features
    features = features.to_empty(device="cpu")
    own = {k.removeprefix("features."): v for k, v in trunk_state.items() if k.startswith("features.")}
    features.load_state_dict(own, strict=True)  # strict: every trunk tensor comes from the verified file
    heads = torch.nn.ModuleList(torch.nn.Conv2d(c, 1, 1, bias=False) for c in channels)
    for k, head in enumerate(heads):
        head.weight.data.copy_(head_state[f"lin{k}.model.1.weight"])

    class LpipsNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stages = torch.nn.ModuleList(features[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
            self.heads = heads
            self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
            self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

        def forward(self, x, y):  # x, y: N x 3 x H x W in [-1, 1]
            x, y = (x - self.shift) / self.scale, (y - self.shift) / self.scale
            total = 0
            for stage, head in zip(self.stages, self.heads):
                x, y = stage(x), stage(y)
                nx = x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + 1e-10)
                ny = y / (torch.sqrt(torch.sum(y**2, dim=1, keepdim=True)) + 1e-10)
                total = total + head((nx - ny) ** 2).mean(dim=(2, 3), keepdim=True)
            return total.flatten()

    return LpipsNet().eval().requires_grad_(False)


def to_minus1_1(batch: np.ndarray):
    """uint8 RGB N x H x W x 3 -> float32 tensor N x 3 x H x W in [-1, 1]."""
    import torch

    return torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()).float() / 127.5 - 1.0  # copy: no negative strides


class Lpips(Metric):
    """`trunk`: "alex" or "vgg" (set by the registry entry)."""

    # Below MIN_SIZE px the trunk's last stages have no pixels left: LPIPS is undefined there, so such images score
    # NaN (left out of the mean and counted as n_nan) instead of aborting the run.
    nan_means_undefined = True

    def __init__(self, spec: MetricSpec, trunk: str | None = None):
        super().__init__(spec)
        self.trunk = trunk or spec.name.removeprefix("lpips_")
        if self.trunk not in TRUNKS:
            raise ValueError(f"LPIPS trunk must be one of {sorted(TRUNKS)}, got '{self.trunk}'")
        self._net = None

    def _entries(self) -> tuple[str, str]:
        return TRUNKS[self.trunk][1], TRUNKS[self.trunk][2]

    def check_available(self) -> str | None:
        return missing_reason(self._entries(), packaged_heads(self.trunk))

    def _load(self):
        if self._net is None:
            import torch

            trunk_entry, head_entry = self._entries()
            try:
                trunk_path, head_path = resolve(trunk_entry), resolve(head_entry, packaged_heads(self.trunk))
            except AssetError:  # refuse: a number from anything but the verified official weights is not LPIPS
                raise AssetError(f"metric '{self.name}' {self.check_available()}") from None
            trunk_state = torch.load(trunk_path, map_location="cpu", weights_only=True)
            head_state = torch.load(head_path, map_location="cpu", weights_only=True)
            self._net = build_lpips(self.trunk, trunk_state, head_state)
        return self._net

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        import torch

        net = self._load()
        if min(pred.shape[1:3]) < MIN_SIZE:
            return np.full(len(pred), np.nan)
        with torch.inference_mode():
            return np.array([float(net(to_minus1_1(p[None]), to_minus1_1(g[None]))[0]) for p, g in zip(pred, gt)])
