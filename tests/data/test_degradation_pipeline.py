import math

import numpy as np
import pytest

from bfrbench.data.degradation import (
    PRESETS,
    DegradationParams,
    DegradationPipeline,
    apply_degradation,
    gaussian_kernel,
    preset_from_config,
    standard_noise,
)
from bfrbench.errors import ConfigError


def test_same_seed_same_index_is_bit_identical(real_face):
    a = DegradationPipeline.from_config("codeformer_stage2", seed=7)
    b = DegradationPipeline.from_config("codeformer_stage2", seed=7)
    for index in (0, 5, 123):
        la, pa = a(real_face, index, epoch=2)
        lb, pb = b(real_face, index, epoch=2)
        assert pa == pb and np.array_equal(la, lb)
    assert a.params_for(0) != a.params_for(1) and a.params_for(0, epoch=0) != a.params_for(0, epoch=1)


def test_params_roundtrip_reproduces_the_sample(real_face):
    pipe = DegradationPipeline.from_config("gfpgan", seed=3)
    lq, params = pipe(real_face, 11)
    again = apply_degradation(real_face, DegradationParams.from_dict(params.to_dict()))
    assert np.array_equal(lq, again)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_draw_inside_their_ranges(name):
    preset = PRESETS[name]
    pipe = DegradationPipeline(preset, seed=0)
    for i in range(200):
        p = pipe.params_for(i)
        r = preset.branches[p.branch]
        assert r.blur_sigma[0] <= p.sigma_x <= r.blur_sigma[1]
        assert r.blur_sigma[0] <= p.sigma_y <= r.blur_sigma[1]
        assert -math.pi <= p.theta <= math.pi
        assert r.scale[0] <= p.scale <= r.scale[1]
        assert r.noise[0] <= p.noise_sigma <= r.noise[1]
        assert r.jpeg[0] <= p.jpeg_quality <= r.jpeg[1] and isinstance(p.jpeg_quality, int)
        if p.kernel == "iso":
            assert p.sigma_x == p.sigma_y and p.theta == 0.0


def test_kernel_is_normalised_and_rotates():
    k = gaussian_kernel(41, 4.0, 1.0, 0.0)
    assert k.shape == (41, 41) and abs(k.sum() - 1) < 1e-12
    k90 = gaussian_kernel(41, 4.0, 1.0, math.pi / 2)
    assert np.allclose(k90, k.T, atol=1e-12)


def test_overrides_and_bad_ranges():
    preset = preset_from_config({"preset": "gfpgan", "jpeg": [70, 90]})
    assert preset.branches[0].jpeg == (70, 90)
    with pytest.raises(ConfigError, match="unknown key"):
        preset_from_config({"preset": "gfpgan", "jpg": [70, 90]})
    with pytest.raises(ConfigError, match="lower bound"):
        preset_from_config({"preset": "gfpgan", "scale": [4, 2]})
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_from_config("nosuch")


def test_degradation_degrades(real_face):
    lq, _ = DegradationPipeline.from_config("codeformer_stage2", seed=0)(real_face, 0)
    assert lq.shape == real_face.shape and lq.dtype == np.uint8
    assert np.abs(lq.astype(int) - real_face.astype(int)).mean() > 3


def test_fast_blur_is_close_and_deterministic(real_face):
    exact = DegradationPipeline.from_config("difface", seed=4)
    fast = DegradationPipeline.from_config("difface", seed=4, fast_blur=True)
    for i in range(6):
        a, pa = exact(real_face, i)
        b, pb = fast(real_face, i)
        c, _ = fast(real_face, i)
        assert pa == pb and np.array_equal(b, c)
        if pa.noise_sigma > 0:  # the two paths draw different noise streams (`fast_noise`, `standard_noise`)
            assert not np.array_equal(a, b)
        # given the same noise, rare pre-JPEG rounding flips can move a JPEG block; on average the two agree closely
        h, w = real_face.shape[:2]
        noise = standard_noise(pa.noise_seed, (int(h // pa.scale), int(w // pa.scale), 3)) * np.float32(
            pa.noise_sigma / 255.0)
        fast_same_noise = apply_degradation(real_face, pa, noise=noise, fast_blur=True)
        assert np.abs(apply_degradation(real_face, pa, noise=noise).astype(int)
                      - fast_same_noise.astype(int)).mean() < 0.05
