"""LPIPS v0.1 (Zhang et al. 2018) with the AlexNet (`lpips_alex`) or VGG16 (`lpips_vgg`) ImageNet trunk.

Protocol, as in the reference `lpips` package (v0.1) and pyiqa's `lpips` / `lpips-vgg`: RGB in [-1, 1]
(uint8 / 127.5 - 1) into the network of `bfrbench.nets.lpips` (v0.1 scaling layer, five ReLU stages, unit-normalised
features, learned 1x1 heads, spatial mean, sum over stages), in float32 as the reference.

Why our own network and not the `lpips` package as the engine: the package builds its trunks through torchvision's
deprecated `pretrained=` argument and pyiqa's LPIPS always downloads the trunk (even with `pnet_rand=True`); here the
trunk and heads come only from the weights registry, verified, and nothing is downloaded at score time. Both
libraries are the calibration references in tests/metrics/test_lpips.py.

`load_lpips` is also how CodeFormer's LPIPS training loss gets its network, so the loss and the metric are the same
network from the same files.

Each image is scored on its own, so its value does not depend on which other images share the batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bfrbench.errors import AssetError
from bfrbench.metrics.base import Metric
from bfrbench.metrics.spec import MetricSpec
from bfrbench.metrics.weights_check import missing_reason, resolve

# trunk -> (registry entry of the torchvision trunk, registry entry of the v0.1 heads)
WEIGHTS_ENTRIES = {
    "alex": ("lpips_alexnet", "lpips_v0.1_alex_head"),
    "vgg": ("lpips_vgg16", "lpips_v0.1_vgg_head"),
}
MIN_SIZE = 32  # smaller inputs leave AlexNet's last stages with no spatial extent


def packaged_heads(trunk: str) -> dict[str, Path]:
    """The byte-identical heads the pinned `lpips` package ships, if it is installed (accepted by sha256 only)."""
    import importlib.util

    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return {}
    folder = Path(list(spec.submodule_search_locations)[0]) / "weights" / "v0.1"
    return {WEIGHTS_ENTRIES[trunk][1]: folder / f"{trunk}.pth"}


def lpips_reason(trunk: str) -> str | None:
    """None when the verified trunk and heads of `trunk` are here, else the unavailability reason with its fix."""
    return missing_reason(WEIGHTS_ENTRIES[trunk], packaged_heads(trunk))


def load_lpips(trunk: str):
    """The LPIPS network (`bfrbench.nets.lpips.LpipsNet`, eval mode, frozen) from the verified registry files.

    Raises AssetError with the fetch command when a file is missing or fails its checksum: a number from anything
    but the official weights is not LPIPS.
    """
    import torch

    from bfrbench.nets.lpips import LpipsNet

    trunk_entry, head_entry = WEIGHTS_ENTRIES[trunk]
    try:
        trunk_path, head_path = resolve(trunk_entry), resolve(head_entry, packaged_heads(trunk))
    except AssetError:
        raise AssetError(f"LPIPS ({trunk}) {lpips_reason(trunk)}") from None
    trunk_state = torch.load(trunk_path, map_location="cpu", weights_only=True)
    head_state = torch.load(head_path, map_location="cpu", weights_only=True)
    return LpipsNet(trunk).load(trunk_state, head_state)


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
        if self.trunk not in WEIGHTS_ENTRIES:
            raise ValueError(f"LPIPS trunk must be one of {sorted(WEIGHTS_ENTRIES)}, got '{self.trunk}'")
        self._net = None

    def check_available(self) -> str | None:
        return lpips_reason(self.trunk)

    def _load(self):
        if self._net is None:
            try:
                self._net = load_lpips(self.trunk)
            except AssetError:
                raise AssetError(f"metric '{self.name}' {self.check_available()}") from None
        return self._net

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        import torch

        net = self._load()
        if min(pred.shape[1:3]) < MIN_SIZE:
            return np.full(len(pred), np.nan)
        with torch.inference_mode():
            return np.array([float(net(to_minus1_1(p[None]), to_minus1_1(g[None]))[0]) for p, g in zip(pred, gt)])
