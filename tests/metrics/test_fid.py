"""FID: the Fréchet math calibrated against pytorch-fid and torchmetrics, the Inception port against pytorch-fid's
InceptionV3 (RANDOM weights: code paths only, never a reported number), the three input conventions, the reference
statistics loaders, and "unavailable" (never a number) when the weights are missing or wrong."""

import dataclasses

import numpy as np
import pytest

from bfrbench.errors import AssetError
from bfrbench.metrics.frechet import (
    feature_stats,
    frechet_distance,
    frechet_distance_of_features,
)
from bfrbench.metrics.registry import create_metric, get_spec

torch = pytest.importorskip("torch")
REL_TOL = 1e-4
FID_METRICS = ("fid_ffhq512", "fid_gt", "fid_clean")


def rel_diff(a, b) -> float:
    return abs(float(a) - float(b)) / abs(float(b))


@pytest.fixture(scope="module")
def feature_sets():
    """Seeded 64-d features: a full-rank pair, and a pair with fewer samples than dimensions (singular covariances)."""
    rng = np.random.default_rng(20261123)
    mix = rng.normal(size=(64, 64)) * 0.3
    return {
        "full_rank": (rng.normal(size=(300, 64)), rng.normal(size=(250, 64)) @ mix + 0.4),
        "singular": (rng.normal(size=(40, 64)), rng.normal(size=(30, 64)) * 1.5 + 0.1),
    }


# --- the Fréchet distance -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["full_rank", "singular"])
def test_matches_pytorch_fid(feature_sets, which):
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    a, b = feature_sets[which]
    stats = (*feature_stats(a), *feature_stats(b))
    # Measured: 1.4e-15 (full rank), 5e-9 (singular, where scipy's sqrtm is the less accurate of the two).
    assert rel_diff(frechet_distance(*stats), fid_score.calculate_frechet_distance(*stats)) <= REL_TOL


@pytest.mark.parametrize("which", ["full_rank", "singular"])
def test_matches_torchmetrics(feature_sets, which):
    fid_mod = pytest.importorskip("torchmetrics.image.fid")

    class Features(torch.nn.Module):
        """The 'images' handed to torchmetrics are the feature vectors themselves, so both sides see identical
        features."""

        num_features = 64

        def forward(self, x):
            return x

    a, b = feature_sets[which]
    tm = fid_mod.FrechetInceptionDistance(feature=Features())
    tm.update(torch.from_numpy(b), real=True)
    tm.update(torch.from_numpy(a), real=False)
    assert rel_diff(frechet_distance_of_features(a, b), tm.compute().item()) <= REL_TOL


def test_distance_properties(feature_sets):
    a, b = feature_sets["full_rank"]
    assert abs(frechet_distance_of_features(a, a)) < 1e-9
    shift = np.full(64, 0.25)
    assert frechet_distance_of_features(a + shift, a) == pytest.approx(64 * 0.25**2, rel=1e-9)
    assert frechet_distance_of_features(a, b) == pytest.approx(frechet_distance_of_features(b, a), rel=1e-9)
    with pytest.raises(ValueError, match="N >= 2"):
        feature_stats(a[:1])


def test_closed_form_on_singular_covariances():
    """b = 1.01 a + 0.01 has cov 1.0201 S, so d^2 = |mean shift|^2 + 0.0001 tr(S) exactly, even with 3 samples in
    128 dimensions (rank 2), where scipy's sqrtm (pytorch-fid) is off in the 4th digit (0.029156 vs 0.029193)."""
    a = np.random.default_rng(0).normal(size=(3, 128))
    b = 1.01 * a + 0.01
    shift = b.mean(axis=0) - a.mean(axis=0)
    exact = shift @ shift + 1e-4 * np.trace(np.cov(a, rowvar=False))
    assert frechet_distance_of_features(a, b) == pytest.approx(exact, rel=1e-9)
    assert abs(frechet_distance_of_features(a, a)) < 1e-9
    with pytest.raises(ValueError, match="mismatched"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# --- the Inception port ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_state(random_inception_state):
    """The random FID-Inception state dict of tests/metrics/conftest.py (test-only)."""
    return random_inception_state


@pytest.fixture(scope="module")
def theirs(random_state):
    """pytorch-fid's InceptionV3 (pool3) with the random state dict in place of its download."""
    inception = pytest.importorskip("pytorch_fid.inception")
    original = inception.load_state_dict_from_url
    inception.load_state_dict_from_url = lambda *a, **k: random_state
    try:
        return {
            "pytorch_fid": inception.InceptionV3([3]).eval(),  # resize_input=True, normalize_input=True
            "basicsr": inception.InceptionV3([3], resize_input=True, normalize_input=False).eval(),
        }
    finally:
        inception.load_state_dict_from_url = original


@pytest.fixture(scope="module")
def ours(random_state, tmp_path_factory):
    from bfrbench.metrics.inception import load_fid_inception

    path = tmp_path_factory.mktemp("w") / "random_inception.pth"
    torch.save(random_state, path)
    return load_fid_inception(path)  # the real loader: strict key and shape matching


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, size=(2, 72, 64, 3), dtype=np.uint8)


def test_state_dict_has_the_official_key_count(random_state):
    # pt_inception-2015-12-05 loads strictly into this graph; public records of that file count 566 entries.
    assert len(random_state) == 566
    assert random_state["Mixed_7c.branch3x3dbl_3a.conv.weight"].shape == (384, 384, 1, 3)
    assert random_state["fc.weight"].shape == (1008, 2048)


def test_strict_loading_rejects_other_keys(random_state, tmp_path):
    from bfrbench.metrics.inception import load_fid_inception

    broken = dict(random_state)
    broken.pop("Mixed_5b.branch_pool.conv.weight")
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(RuntimeError, match="Missing key"):
        load_fid_inception(tmp_path / "broken.pth")


@pytest.fixture(scope="module")
def ours_basicsr(ours, images):
    from bfrbench.metrics.inception import inception_features

    return inception_features(ours, images, "basicsr")


def test_port_equals_pytorch_fid_inception(ours, theirs, images, ours_basicsr):
    from bfrbench.metrics.inception import inception_features

    x01 = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        ref_basicsr = theirs["basicsr"]((x01 - 0.5) / 0.5)[0].flatten(1).numpy()
        ref_fid = theirs["pytorch_fid"](x01[:1])[0].flatten(1).numpy()
    assert ours_basicsr.shape == (2, 2048) and np.abs(ref_basicsr).max() > 1  # O(1) activations: a real comparison
    # float32 rounding only (measured: 4e-7 of the largest feature)
    np.testing.assert_allclose(ours_basicsr, ref_basicsr, rtol=0, atol=1e-5 * np.abs(ref_basicsr).max())
    got_fid = inception_features(ours, images[:1], "pytorch_fid")
    np.testing.assert_allclose(got_fid, ref_fid, rtol=0, atol=1e-5 * np.abs(ref_fid).max())


def test_features_do_not_depend_on_batch(ours, images, ours_basicsr):
    from bfrbench.metrics.inception import inception_features

    single = np.concatenate([inception_features(ours, images[i : i + 1], "basicsr") for i in range(2)])
    np.testing.assert_array_equal(ours_basicsr, single)


def test_clean_input_equals_pyiqa_clean_resize(images, tmp_path):
    fid_arch = pytest.importorskip("pyiqa.archs.fid_arch")
    from bfrbench.io.images import write_image
    from bfrbench.metrics.inception import prepare

    write_image(tmp_path / "a.png", images[0])
    theirs = (fid_arch.ResizeDataset([tmp_path / "a.png"], mode="clean")[0] - 128) / 128
    np.testing.assert_array_equal(prepare(images[:1], "clean")[0].numpy(), theirs.numpy())
    with pytest.raises(ValueError, match="convention"):
        prepare(images, "tensorflow")


# --- reference statistics -------------------------------------------------------------------------------------------


def test_basicsr_stats_load_without_pickle_code(tmp_path):
    from bfrbench.metrics.fid import load_basicsr_stats

    mean, cov = np.arange(2048.0), np.eye(2048) * 2
    torch.save({"name": "FFHQ", "mean": mean, "cov": cov}, tmp_path / "stats.pth")
    got_mean, got_cov = load_basicsr_stats(tmp_path / "stats.pth")
    np.testing.assert_array_equal(got_mean, mean)
    np.testing.assert_array_equal(got_cov, cov)
    torch.save({"mean": mean[:10], "cov": cov[:10, :10]}, tmp_path / "small.pth")
    with pytest.raises(AssetError, match="2048"):
        load_basicsr_stats(tmp_path / "small.pth")


def test_clean_stats_loader(tmp_path):
    from bfrbench.metrics.fid import load_npz_stats

    np.savez(tmp_path / "s.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    mean, cov = load_npz_stats(tmp_path / "s.npz")
    assert mean.shape == (2048,) and cov.shape == (2048, 2048)
    np.savez(tmp_path / "bad.npz", mean=np.zeros(2048))
    with pytest.raises(AssetError, match="'mu' and 'sigma'"):
        load_npz_stats(tmp_path / "bad.npz")


# --- availability: never a number without the real weights ---------------------------------------------------------


@pytest.fixture
def empty_weights(no_weights):
    """An empty cache and weights folder (tests/random_weights.py's no_weights)."""
    return no_weights


@pytest.mark.parametrize("name", FID_METRICS)
def test_unavailable_offline(empty_weights, name):
    reason = create_metric(name).check_available()
    assert reason.startswith("unavailable: ") and reason.endswith("; run bfrbench weights fetch inception_fid")


def test_wrong_inception_file_is_unavailable(empty_weights, random_state):
    torch.save(random_state, empty_weights / "pt_inception-2015-12-05-6726825d.pth")
    reason = create_metric("fid_gt").check_available()
    assert reason.startswith("unavailable: ") and "does not match" in reason
    with pytest.raises(AssetError, match="unavailable"):
        create_metric("fid_gt").image_features(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((1, 8, 8, 3), np.uint8))


def test_basicsr_stats_must_match_the_hash_in_their_name(empty_weights, random_state, monkeypatch):
    from bfrbench import weights
    from bfrbench.assets import sha256_file

    path = empty_weights / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(random_state, path)
    asset = weights.WEIGHTS["inception_fid"]
    monkeypatch.setitem(weights.WEIGHTS, "inception_fid", dataclasses.replace(asset, sha256=sha256_file(path)))
    torch.save({"mean": np.zeros(2048), "cov": np.eye(2048)}, empty_weights / "inception_FFHQ_512-f7b384ab.pth")
    reason = create_metric("fid_ffhq512").check_available()
    assert "is not the official inception_FFHQ_512-f7b384ab.pth" in reason
    assert reason.endswith("; run bfrbench weights fetch fid_stats_ffhq512_basicsr")


def test_protocols_name_extractor_weights_and_reference():
    for name in FID_METRICS:
        spec = get_spec(name)
        assert "pt_inception-2015-12-05-6726825d.pth" in spec.protocol and "Inception" in spec.protocol
        assert spec.direction == "lower is better" and spec.value_range[0] == 0.0
    assert "inception_FFHQ_512-f7b384ab.pth" in get_spec("fid_ffhq512").protocol
    assert "ground-truth" in get_spec("fid_gt").protocol and get_spec("fid_gt").full_reference
    assert "ffhq_clean_trainval70k_512.npz" in get_spec("fid_clean").protocol
    assert not get_spec("fid_ffhq512").full_reference and not get_spec("fid_clean").full_reference


# --- end to end with random weights (code path only) ----------------------------------------------------------------


@pytest.mark.slow
def test_fid_gt_equals_pytorch_fid_end_to_end(empty_weights, random_state, monkeypatch, tmp_path):
    """score_folders' fid_gt vs pytorch-fid's calculate_fid_given_paths, same random weights (2048-d: slow)."""
    from bfrbench import weights
    from bfrbench.assets import sha256_file
    from bfrbench.engine.scoring import score_folders
    from bfrbench.io.images import write_image

    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    inception = pytest.importorskip("pytorch_fid.inception")
    path = empty_weights / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(random_state, path)
    asset = weights.WEIGHTS["inception_fid"]
    monkeypatch.setitem(weights.WEIGHTS, "inception_fid", dataclasses.replace(asset, sha256=sha256_file(path)))
    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: random_state)
    rng = np.random.default_rng(3)
    for i in range(6):
        gt = rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
        write_image(tmp_path / "gt" / f"{i}.png", gt)
        write_image(tmp_path / "pred" / f"{i}.png", (gt // 2 + 40).astype(np.uint8))
    ours = score_folders(tmp_path / "pred", tmp_path / "gt", metrics=["fid_gt"], progress=False)["metrics"]["fid_gt"]
    theirs = fid_score.calculate_fid_given_paths([str(tmp_path / "pred"), str(tmp_path / "gt")], 6, "cpu", 2048, 0)
    assert ours["level"] == "set" and ours["n"] == 6
    assert rel_diff(ours["value"], theirs) <= REL_TOL


def test_manual_download_is_explained(empty_weights, random_state, monkeypatch):
    from bfrbench import weights
    from bfrbench.assets import sha256_file

    path = empty_weights / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(random_state, path)
    asset = weights.WEIGHTS["inception_fid"]
    monkeypatch.setitem(weights.WEIGHTS, "inception_fid", dataclasses.replace(asset, sha256=sha256_file(path)))
    reason = create_metric("fid_ffhq512").check_available()
    assert reason.startswith("unavailable: ") and "drive.google.com" in reason and "by hand" in reason
    assert reason.endswith("; run bfrbench weights fetch fid_stats_ffhq512_basicsr")
    assert create_metric("fid_clean").check_available().endswith("; run bfrbench weights fetch fid_stats_ffhq512_clean")


@pytest.mark.slow
def test_stats_conventions_end_to_end(empty_weights, random_state, monkeypatch, tmp_path):
    """fid_ffhq512 / fid_clean through score_folders with random weights and made-up statistics (code path only):
    each value equals the Fréchet distance of its own convention's features to the statistics file."""
    from bfrbench import weights
    from bfrbench.assets import sha256_file
    from bfrbench.engine.scoring import score_folders
    from bfrbench.io.images import write_image
    from bfrbench.metrics.inception import inception_features, load_fid_inception

    inception_path = empty_weights / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(random_state, inception_path)
    rng = np.random.default_rng(9)
    mean, basis = rng.normal(size=2048) * 0.1, rng.normal(size=(2048, 64)) * 0.05
    cov = basis @ basis.T + np.eye(2048) * 1e-3  # full rank, as real FFHQ statistics are
    torch.save({"name": "test", "mean": mean, "cov": cov}, empty_weights / "inception_FFHQ_512-f7b384ab.pth")
    np.savez(empty_weights / "ffhq_clean_trainval70k_512.npz", mu=mean, sigma=cov)
    for name in ("inception_fid", "fid_stats_ffhq512_basicsr", "fid_stats_ffhq512_clean"):
        asset = weights.WEIGHTS[name]
        verified = dataclasses.replace(asset, sha256=sha256_file(empty_weights / asset.filename))
        monkeypatch.setitem(weights.WEIGHTS, name, verified)
    images = rng.integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        write_image(tmp_path / "pred" / f"{i}.png", img)
    summary = score_folders(tmp_path / "pred", metrics=["fid_ffhq512", "fid_clean"], progress=False)["metrics"]
    from bfrbench.engine.devices import cpu_threads

    net = load_fid_inception(inception_path)
    for name, convention in (("fid_ffhq512", "basicsr"), ("fid_clean", "clean")):
        # the scoring engine's thread count (engine.devices.CPU_THREADS): another count gives other last bits in
        # Inception's convolutions, which the 2048-d Frechet distance grows to ~5e-9 relative
        with cpu_threads("cpu"):
            features = inception_features(net, images, convention)
        expected = frechet_distance(*feature_stats(features), mean, cov)
        assert summary[name]["level"] == "set" and summary[name]["n"] == 3
        assert summary[name]["value"] == pytest.approx(expected, rel=1e-12)


def test_stats_file_that_is_not_statistics_is_unavailable(empty_weights, random_state, monkeypatch):
    from bfrbench import weights
    from bfrbench.assets import sha256_file

    path = empty_weights / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(random_state, path)
    asset = weights.WEIGHTS["inception_fid"]
    monkeypatch.setitem(weights.WEIGHTS, "inception_fid", dataclasses.replace(asset, sha256=sha256_file(path)))
    (empty_weights / "ffhq_clean_trainval70k_512.npz").write_text("<html>not found</html>")
    reason = create_metric("fid_clean").check_available()
    assert reason.startswith("unavailable: ") and "not a clean-fid statistics file" in reason
    assert reason.endswith("; run bfrbench weights fetch fid_stats_ffhq512_clean")
