"""uint8 image <-> float tensor conversion, shared by the data sets and every method's restorer.

Its own small module (not the DataModule's) so a restorer can convert images without importing Lightning, and the
data sets that need it do not import the DataModule that imports them.
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float CxHxW in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(255.0)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float NxCxHxW in [0, 1] -> uint8 NxHxWx3 (rounded, clipped)."""
    return t.detach().clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
