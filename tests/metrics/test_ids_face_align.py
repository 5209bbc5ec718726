"""Five-point ArcFace alignment from dlib landmarks (bfrbench.metrics.face_align) on real faces."""

import numpy as np
import pytest

from bfrbench.metrics.face_align import (
    ARCFACE_TEMPLATE_112,
    DlibLandmarks,
    apply_transform,
    arcface5_from_dlib68,
    arcface_matrix_from_dlib5,
    similarity_transform,
    warp_arcface,
)
from real_face_sets import real_aligned_faces

pytest.importorskip("dlib")
pytest.importorskip("face_recognition_models")


@pytest.fixture(scope="module")
def faces():
    return [f for size in (128, 256) for f in real_aligned_faces(size)]


def test_similarity_recovers_a_known_transform():
    angle, scale, shift = np.deg2rad(12.0), 1.7, np.array([5.0, -3.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_TEMPLATE_112
    m = similarity_transform(src, src @ rot.T + shift)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-12)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-12)


def test_dlib5_point_order(faces):
    """0, 1: outer/inner corner of the eye on the image's right; 2, 3: the image's left eye; 4: nose base."""
    five = DlibLandmarks(5)
    for face in faces:
        p = five(face)
        assert p[0, 0] > p[1, 0] > p[3, 0] > p[2, 0]
        assert p[4, 1] > p[:4, 1].max()


def test_dlib5_mapping_matches_the_standard_68_point_alignment(faces):
    """The crop from dlib's 5 points and the standard ArcFace crop (68-point 5 landmarks, least squares onto the
    template) put the face's eyes, nose and mouth corners within 4 px of each other at 112."""
    five, sixty_eight = DlibLandmarks(5), DlibLandmarks(68)
    for face in faces:
        standard5 = arcface5_from_dlib68(sixty_eight(face))
        standard = similarity_transform(standard5, ARCFACE_TEMPLATE_112)
        mapped = arcface_matrix_from_dlib5(five(face))
        err = np.linalg.norm(apply_transform(mapped, standard5) - apply_transform(standard, standard5), axis=1)
        assert err.max() < 4.0, err  # measured 0.3-3.2 px


def test_warp_gives_a_112_crop(faces):
    m = arcface_matrix_from_dlib5(DlibLandmarks(5)(faces[0]))
    crop = warp_arcface(faces[0], m)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8 and crop.std() > 20


def test_landmark_counts_are_checked():
    with pytest.raises(ValueError):
        DlibLandmarks(7)
