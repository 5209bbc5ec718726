"""kid_dlib: the KID estimator against torchmetrics' on fixed features, then on real faces (FFHQ-aligned
public-domain photos shipped by scikit-image and matplotlib)."""

import numpy as np
import pytest
import torch

from bfrbench.metrics.kid import kernel_distance
from bfrbench.metrics.registry import create_metric, get_spec
from real_face_sets import down_up, real_aligned_faces


def _features(n, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(shift, 1.0, (n, 128))


def test_equal_sizes_match_torchmetrics_poly_mmd():
    from torchmetrics.image.kid import poly_mmd

    x, y = _features(40, seed=1), _features(40, 0.3, seed=2)
    ref = float(poly_mmd(torch.from_numpy(x), torch.from_numpy(y)))  # float64 tensors: float64 throughout
    # Bound: the same float64 formula summed in another order (numpy vs torch reductions): ~1e-15 relative per sum,
    # on any x86 CPU; 1e-10 leaves room for BLAS kernels' blocking of the 40 x 40 kernel matrices.
    assert kernel_distance(x, y) == pytest.approx(ref, rel=1e-10)


def test_unequal_sizes_use_the_general_unbiased_estimator():
    x, y = _features(7, seed=3), _features(11, 0.5, seed=4)

    def k(a, b):
        return (a @ b / 128 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(11) for j in range(11) if i != j) / (11 * 10)
    xy = sum(k(a, b) for a in x for b in y) / (7 * 11)
    assert kernel_distance(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)  # loop vs matrix sums, float64


def test_same_distribution_near_zero_shifted_positive():
    same = kernel_distance(_features(200, seed=5), _features(200, seed=6))
    shifted = kernel_distance(_features(200, seed=5), _features(200, 1.0, seed=6))
    assert abs(same) < 0.1 * shifted and shifted > 0


def test_too_small_or_mismatched_sets_are_refused():
    with pytest.raises(ValueError):
        kernel_distance(_features(1), _features(5))
    with pytest.raises(ValueError):
        kernel_distance(_features(5), _features(5)[:, :64])


def test_on_real_faces_named_as_not_kid_and_grows_with_degradation():
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    spec = get_spec("kid_dlib")
    assert "NOT KID" in spec.protocol and spec.direction == "lower is better"
    metric = create_metric("kid_dlib")
    assert metric.check_available() is None
    gt = real_aligned_faces()
    values = [metric.compute_from_features(metric.image_features(down_up(gt, f), gt))["value"] for f in (2, 8)]
    assert values[0] < values[1]
