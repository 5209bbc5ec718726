"""frechet_dlib on real faces (public-domain photos shipped by scikit-image and matplotlib, FFHQ-aligned)."""

import cv2
import numpy as np
import pytest

from bfrbench.errors import BFRBenchError
from bfrbench.metrics.frechet import frechet_distance_of_features
from bfrbench.metrics.registry import create_metric, get_spec
from real_face_sets import down_up, real_aligned_faces

pytest.importorskip("dlib")
pytest.importorskip("face_recognition_models")


@pytest.fixture(scope="module")
def gt():
    return real_aligned_faces()


@pytest.fixture(scope="module")
def metric():
    return create_metric("frechet_dlib")


@pytest.fixture(scope="module")
def gt_features(metric, gt):
    return metric.embed(gt)


def test_offline_and_named_as_not_fid(metric):
    assert metric.check_available() is None
    spec = get_spec("frechet_dlib")
    assert "NOT FID" in spec.protocol and "dlib" in spec.protocol and "128-D" in spec.protocol
    assert spec.direction == "lower is better" and metric.feature_kinds == ("pred", "gt")


def test_identical_sets_give_zero(metric, gt, gt_features):
    feats = metric.image_features(gt, gt)
    np.testing.assert_array_equal(feats["pred"], gt_features)
    result = metric.compute_from_features(feats)
    assert abs(result["value"]) < 1e-6 and result["n"] == 4 and result["n_reference"] == 4


def test_more_degradation_gives_a_larger_distance(metric, gt, gt_features):
    values = [frechet_distance_of_features(metric.embed(down_up(gt, f)), gt_features) for f in (2, 8)]
    # Measured: x2 0.033, x4 0.30, x8 0.46 (dlib L2^2).
    assert 0.0 < values[0] < values[1]


def test_features_do_not_depend_on_batch(metric, gt, gt_features):
    single = np.concatenate([metric.embed(gt[i : i + 1]) for i in range(len(gt))])
    np.testing.assert_array_equal(single, gt_features)


def test_update_compute_equals_engine_path(metric, gt):
    degraded = down_up(gt, 4)
    metric.reset()
    metric.update(degraded[:2], gt[:2])
    metric.update(degraded[2:], gt[2:])
    direct = metric.compute_from_features(metric.image_features(degraded, gt))["value"]
    assert metric.compute() == direct


def test_reference_folder(gt, gt_features, tmp_path):
    from bfrbench.io.images import write_image

    for i, face in enumerate(gt):
        write_image(tmp_path / "ref" / f"r{i}.png", face)
    metric = create_metric("frechet_dlib", reference_dir=str(tmp_path / "ref"))
    assert metric.feature_kinds == ("pred",) and not metric.needs_gt
    degraded = down_up(gt, 4)
    feats = metric.image_features(degraded, None)
    assert set(feats) == {"pred"}
    result = metric.compute_from_features(feats)
    assert result["value"] == pytest.approx(frechet_distance_of_features(feats["pred"], gt_features), rel=1e-12)
    assert result["reference"] == str((tmp_path / "ref").resolve()) and result["n_reference"] == 4


def test_reference_folder_problems_are_named(gt, tmp_path):
    missing = create_metric("frechet_dlib", reference_dir=str(tmp_path / "nope"))
    assert missing.check_available().startswith("unavailable: reference folder")
    (tmp_path / "one").mkdir()
    cv2.imwrite(str(tmp_path / "one" / "a.png"), gt[0])
    metric = create_metric("frechet_dlib", reference_dir=str(tmp_path / "one"))
    with pytest.raises(BFRBenchError, match="at least 2 reference faces"):
        metric.compute_from_features({"pred": metric.embed(gt)})


def test_needs_ground_truth_without_reference(metric, gt):
    with pytest.raises(BFRBenchError, match="ground-truth"):
        metric.image_features(gt, None)
