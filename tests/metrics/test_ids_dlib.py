"""ids_dlib on real faces (public-domain photos shipped by scikit-image and matplotlib), FFHQ-style aligned."""

import cv2
import numpy as np
import pytest

from bfrbench.errors import BFRBenchError
from bfrbench.metrics.ids_dlib import FFHQ_FACE_BOX
from bfrbench.metrics.registry import create_metric

dlib = pytest.importorskip("dlib")
pytest.importorskip("face_recognition_models")

def real_faces() -> dict[str, np.ndarray]:
    skdata = pytest.importorskip("skimage.data")
    cbook = pytest.importorskip("matplotlib.cbook")
    hopper = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return {"astronaut": skdata.astronaut(), "hopper": cv2.cvtColor(hopper, cv2.COLOR_BGR2RGB)}


def align_ffhq(rgb: np.ndarray, size: int) -> np.ndarray:
    """The project's FFHQ alignment of the most confident face (HOG also 'finds' the astronaut's mission badge)."""
    from bfrbench.data.align import align_face, detect_faces

    box = max(detect_faces(rgb, 64), key=lambda b: b.score)
    return align_face(rgb, box, size).image


def bicubic_down_up(img, factor=4):
    h, w = img.shape[:2]
    small = cv2.resize(img, (w // factor, h // factor), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def metric():
    return create_metric("ids_dlib")


@pytest.fixture(scope="module")
def aligned():
    faces = real_faces()
    return {(name, size): align_ffhq(img, size) for name, img in faces.items() for size in (128, 256)}


@pytest.fixture(scope="module", params=[256, 128])
def scored(request, metric, aligned):
    """One batch per size: (same photo, x4 bicubic, other person) each against the astronaut ground truth."""
    size = request.param
    gt = aligned[("astronaut", size)]
    other = aligned[("hopper", size)]
    pred = np.stack([gt, bicubic_down_up(gt), other])
    values = metric.score_batch(pred, np.stack([gt, gt, gt]))
    return size, pred, np.stack([gt, gt, gt]), values


def test_models_ship_offline(metric):
    assert metric.check_available() is None


def test_same_degraded_different(scored):
    size, _, _, (same, degraded, different) = scored
    assert same == 0.0
    assert 0.0 < degraded < different
    assert different > 0.6  # dlib's same-person threshold
    if size >= 256:
        assert degraded < 0.6


def test_batch_equals_one_by_one(metric, scored):
    _, pred, gt, values = scored
    single = [metric.score_batch(pred[i : i + 1], gt[i : i + 1])[0] for i in range(len(pred))]
    assert values.tolist() == single


def test_landmarks_come_from_ground_truth_only(metric, aligned):
    gt = aligned[("astronaut", 128)][None]
    blank = np.full_like(gt, 128)  # a "restoration" with no face at all still gets a distance, never a failure
    value = metric.score_batch(blank, gt)[0]
    assert np.isfinite(value) and value > 0.6


def test_fixed_box_matches_hog_detections_on_aligned_crops(aligned):
    detector = dlib.get_frontal_face_detector()
    for (name, size), img in aligned.items():
        found = detector(img, 1)
        assert found, f"HOG found no face in the aligned {name} crop at {size}px"
        r = max(found, key=lambda b: b.area())
        left, top, right, bottom = (np.array(FFHQ_FACE_BOX) * size).tolist()
        iw = max(0.0, min(right, r.right()) - max(left, r.left()))
        ih = max(0.0, min(bottom, r.bottom()) - max(top, r.top()))
        inter = iw * ih
        union = (right - left) * (bottom - top) + r.width() * r.height() - inter
        assert inter / union > 0.6, (name, size, r)  # HOG boxes move in pyramid steps: 0.67-0.90 measured


def test_protocol_states_the_box_in_use():
    from bfrbench.metrics.registry import get_spec

    left, top, right, bottom = FFHQ_FACE_BOX
    assert f"x {left}-{right}, y {top}-{bottom}" in get_spec("ids_dlib").protocol


def test_needs_ground_truth(metric, aligned):
    with pytest.raises(BFRBenchError, match="ground-truth"):
        metric.score_batch(aligned[("astronaut", 128)][None], None)


def test_missing_model_files_give_a_reason(tmp_path):
    reason = create_metric("ids_dlib", model_dir=str(tmp_path)).check_available()
    assert reason.startswith("unavailable: ") and "; run pip install" in reason
    assert "dlib_face_recognition_resnet_model_v1.dat" in reason
