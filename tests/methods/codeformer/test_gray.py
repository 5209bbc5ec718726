"""CodeFormer's gray inputs give gray outputs with the input's channel statistics, as the official pipeline."""

from __future__ import annotations

import numpy as np
import torch

from bfrbench.methods.codeformer.gray import gray_like_input, is_gray


def _colour(seed: int = 0, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(30, 220, size=(size, size, 3), dtype=np.uint8)


def _gray(seed: int = 1, size: int = 32) -> np.ndarray:
    g = _colour(seed, size)[..., 0]
    return np.repeat(g[..., None], 3, axis=2)


def test_is_gray_uses_the_official_threshold():
    gray = _gray()
    assert is_gray(gray) and is_gray(gray[..., 0])
    assert not is_gray(_colour())
    tinted = gray.astype(np.int16)
    tinted[..., 0] += np.random.default_rng(2).integers(-4, 5, size=tinted.shape[:2])  # difference variance ~6.7
    assert is_gray(np.clip(tinted, 0, 255).astype(np.uint8)), "JPEG-tinted gray photos still count as gray"


def test_output_is_gray_with_the_input_statistics():
    g = np.random.default_rng(5).integers(100, 150, size=(32, 32), dtype=np.uint8)
    lq, restored = np.repeat(g[..., None], 3, axis=2), _colour(3)  # a narrow input: no rescaling into 8 bit
    out = gray_like_input(restored, lq)
    assert out.dtype == np.uint8 and out.shape == lq.shape
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    # the input's mean and std per channel, up to the final rounding to 8 bit
    assert abs(out[..., 0].mean() - lq[..., 0].mean()) < 0.5
    assert abs(out[..., 0].std() - lq[..., 0].std()) < 0.5


def test_out_of_range_statistics_are_scaled_into_8_bit():
    lq = _gray()
    lq[:16] = 250  # a bright, wide input: a plain transfer would leave [0, 256)
    lq[16:] = 5
    out = gray_like_input(_colour(4), lq)
    assert out.min() >= 0 and out.max() <= 255 and np.array_equal(out[..., 0], out[..., 2])


def test_the_restorer_turns_only_gray_inputs_gray():
    from bfrbench.methods.codeformer.method import _Restorer

    class Colourful(torch.nn.Module):
        img_size = 32

        def forward(self, x, w, adain):
            out = torch.zeros_like(x)
            out[:, 0] = 0.8  # a red face whatever the input
            return (out, None, None)

    lq = np.stack([_gray(), _colour()])
    out = _Restorer(Colourful(), 0.5, "cpu").restore(lq)
    assert np.array_equal(out[0][..., 0], out[0][..., 1]), "the gray input's output is gray"
    # the network's colour output as it is: 0.8 -> 230 in red, 0 -> 128 in green and blue
    assert (out[1][..., 0] == 230).all() and (out[1][..., 1:] == 128).all(), "a colour input's output is unchanged"
