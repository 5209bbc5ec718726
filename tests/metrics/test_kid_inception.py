"""kid_gt / kid_folder: the whole-set KID estimator against torchmetrics' KernelInceptionDistance and poly_mmd on
fixed features (the subset-sampling difference made exact), and the metrics' plumbing on fixed features and on a
RANDOM Inception (code paths only)."""

import itertools

import numpy as np
import pytest

from bfrbench.metrics.kid import kernel_distance
from bfrbench.metrics.kid_inception import kernel_distance_blocked
from bfrbench.metrics.registry import METRICS, create_metric, get_spec

torch = pytest.importorskip("torch")


def _features(n, d=2048, shift=0.0, seed=0):
    # Inception pool3 features are non-negative averages of ReLUs, O(0.1-1): mimic their scale and sign.
    return np.abs(np.random.default_rng(seed).normal(shift, 0.5, (n, d)))


class _Identity(torch.nn.Module):
    """The 'images' handed to torchmetrics are the feature vectors themselves: both sides see identical features."""

    def forward(self, x):
        return x


def test_blocked_sums_equal_the_one_matrix_estimator():
    x, y = _features(37, 64, seed=1), _features(23, 64, shift=0.2, seed=2)
    # Bound: the same float64 sums in another grouping (blocks of 8 rows vs whole matrices): ~1e-15 relative per sum.
    assert kernel_distance_blocked(x, y, block=8) == pytest.approx(kernel_distance(x, y), rel=1e-10)
    assert kernel_distance_blocked(x, y) == pytest.approx(kernel_distance(x, y), rel=1e-10)
    with pytest.raises(ValueError):
        kernel_distance_blocked(x[:1], y)


def test_equal_sizes_match_torchmetrics_kernel_inception_distance():
    """With subset_size = the whole (equal-size) sets, torchmetrics' one subset is a permutation of the sets: its
    kid_mean is the whole-set estimator."""
    from torchmetrics.image.kid import KernelInceptionDistance

    x, y = _features(30, seed=3), _features(30, shift=0.1, seed=4)
    tm = KernelInceptionDistance(feature=_Identity(), subsets=1, subset_size=30)
    tm.update(torch.from_numpy(y), real=True)  # float64 tensors: float64 throughout
    tm.update(torch.from_numpy(x), real=False)
    kid_mean, kid_std = tm.compute()
    # Bound: float64, the same formula summed in another order (torch vs numpy, permuted rows): ~1e-15 relative per
    # sum on any x86 CPU; 1e-10 leaves room for BLAS blocking of the 30 x 2048 products.
    assert kernel_distance_blocked(x, y) == pytest.approx(float(kid_mean), rel=1e-10)
    assert float(kid_std) == 0.0


def test_whole_set_value_is_the_mean_over_every_subset_pair():
    """torchmetrics/clean-fid average poly_mmd over random subsets of size m from each set; averaged over EVERY pair
    of m-subsets (all C(7,4) x C(6,4) = 525) that mean is exactly our whole-set general unbiased estimator, also for
    sets of unequal size. So the sampling difference is only theirs being a random estimate of our number."""
    from torchmetrics.image.kid import poly_mmd

    x, y = _features(7, 16, seed=5), _features(6, 16, shift=0.3, seed=6)
    values = [float(poly_mmd(torch.from_numpy(y[list(j)]), torch.from_numpy(x[list(i)])))
              for i in itertools.combinations(range(7), 4) for j in itertools.combinations(range(6), 4)]
    # Bound: a mean of 525 float64 estimates vs one closed form: ~1e-13 relative accumulated rounding.
    assert kernel_distance_blocked(x, y) == pytest.approx(np.mean(values), rel=1e-10)


def test_kid_gt_on_fixed_features_has_no_frechet_flag():
    x, y = _features(12, seed=7), _features(9, shift=0.2, seed=8)
    result = create_metric("kid_gt").compute_from_features({"pred": x, "gt": y})
    assert result == {"value": kernel_distance_blocked(x, y), "n": 12, "n_reference": 9}


def test_kid_folder_on_fixed_features_records_its_reference(random_inception, tmp_path):
    from bfrbench.io.images import write_image

    rng = np.random.default_rng(9)
    for i in range(3):
        write_image(tmp_path / "ffhq" / f"{i:05d}.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    fid = create_metric("fid_folder", reference_dir=str(tmp_path / "ffhq"))
    kid = create_metric("kid_folder", reference_dir=str(tmp_path / "ffhq"))
    assert kid.check_available() is None
    pred = _features(4, seed=10).astype(np.float32)
    result = kid.compute_from_features({"pred": pred})
    reference = fid.reference_features()  # the same cached features as fid_folder's
    assert result["value"] == kernel_distance_blocked(pred, reference)
    assert result["n"] == 4 and result["n_reference"] == 3 and "few_images" not in result
    assert result["reference_files_hashed"] == "names and sizes" and len(result["reference_files_sha256"]) == 64


def test_kid_gt_through_the_engine_with_random_inception(random_inception, tmp_path):
    """Code path only (random weights): the engine's kid_gt equals the estimator on fid_gt's own features."""
    from bfrbench.engine.scoring import score_folders
    from bfrbench.io.images import write_image

    rng = np.random.default_rng(11)
    for i in range(3):
        gt = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        write_image(tmp_path / "gt" / f"{i}.png", gt)
        write_image(tmp_path / "pred" / f"{i}.png", (gt // 2 + 30).astype(np.uint8))
    summary = score_folders(tmp_path / "pred", tmp_path / "gt", metrics=["kid_gt"], progress=False)["metrics"]
    metric = create_metric("kid_gt")
    from bfrbench.io.images import read_image

    def load(folder):
        return np.stack([read_image(tmp_path / folder / f"{i}.png") for i in range(3)])

    from bfrbench.engine.devices import cpu_threads

    with cpu_threads("cpu"):  # the engine's thread count: the same convolution kernels, the same bits
        features = metric.image_features(load("pred"), load("gt"))
    assert summary["kid_gt"]["level"] == "set" and summary["kid_gt"]["n"] == 3
    # Bound: the engine computes the same features (same threads, same batch) and the same float64 sums.
    assert summary["kid_gt"]["value"] == pytest.approx(kernel_distance_blocked(features["pred"], features["gt"]),
                                                       rel=1e-12)


def test_unavailable_without_inception_weights(no_weights, tmp_path):
    for name, options in (("kid_gt", {}), ("kid_folder", {"reference_dir": str(tmp_path)})):
        reason = create_metric(name, **options).check_available()
        assert reason.startswith("unavailable: ") and reason.endswith("; run bfrbench weights fetch inception_fid")


def test_protocols_and_no_kid_for_stats_only_references():
    for name in ("kid_gt", "kid_folder"):
        protocol = get_spec(name).protocol
        assert "pt_inception-2015-12-05-6726825d.pth" in protocol and "whole sets" in protocol
        assert "poly_mmd" in protocol or "torchmetrics" in protocol
    assert get_spec("kid_gt").full_reference and not get_spec("kid_folder").full_reference
    # BasicSR's and pyiqa's FFHQ references are a mean and a covariance: KID needs per-image features.
    assert "kid_ffhq512" not in METRICS and "kid_clean" not in METRICS
