"""uint8 image <-> float tensor conversion, shared by the data sets and every method's restorer.

Its own small module (not the DataModule's) so a restorer can convert images without importing Lightning, and the
data sets that need it do not import the DataModule that imports them.
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float CxHxW in [0, 1]: x / 255 in float32, bit for bit what torch's `.float().div_(255.0)`
    gives (tests/data/test_tensors.py), computed by numpy: a data set in the training process (num_workers: 0) must
    not wake torch's intra-op thread pool per sample (on the busy 2-core box the torch version took 2-4 ms per
    128 px face, against ~20 us)."""
    out = np.empty((rgb.shape[2], rgb.shape[0], rgb.shape[1]), np.float32)
    np.divide(rgb.transpose(2, 0, 1), np.float32(255.0), out=out)
    return torch.from_numpy(out)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float NxCxHxW in [0, 1] -> uint8 NxHxWx3 (rounded, clipped)."""
    return t.detach().clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
