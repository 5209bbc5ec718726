"""uint8 <-> float tensor conversion: the numpy division is torch's `.float().div_(255.0)` bit for bit."""

import numpy as np
import torch

from bfrbench.data.tensors import to_tensor, to_uint8


def test_to_tensor_is_torchs_division_bit_for_bit_and_round_trips():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image[0, :3, 0] = (0, 255, 128)
    got = to_tensor(image)
    torch_way = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)
    assert got.dtype == torch.float32 and got.shape == (3, 5, 7) and got.is_contiguous()
    assert np.array_equal(got.numpy().view(np.uint32), torch_way.numpy().view(np.uint32))
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    assert np.array_equal(to_uint8(to_tensor(levels)[None])[0], levels)
