"""FFHQ-style alignment: canonical geometry, pixel/landmark agreement, and a real face (scikit-image's astronaut)."""

from __future__ import annotations

import numpy as np
import pytest

from bfrbench.data import align

SIZE = 128
# Upright face with eye distance E=40 and eye-to-mouth M=40: 2E > 1.8M, so the quad is set by the eyes and the eye
# centres land at x = 3/8 and 5/8 of the output, y = (1 - 0.1 M / (2E)) / 2 of it (pixel centres: -0.5).
CANON_LEFT_EYE = (3 * SIZE / 8 - 0.5, (1 - 0.05) * SIZE / 2 - 0.5)
CANON_RIGHT_EYE = (5 * SIZE / 8 - 0.5, (1 - 0.05) * SIZE / 2 - 0.5)


def synthetic_landmarks() -> np.ndarray:
    lm = np.zeros((68, 2))
    lm[36:42] = (100.0, 100.0)
    lm[42:48] = (140.0, 100.0)
    lm[48] = (110.0, 140.0)
    lm[54] = (130.0, 140.0)
    return lm


def eye_centres(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)


def test_synthetic_eyes_land_on_the_canonical_positions():
    lm = synthetic_landmarks()
    aligned = align.apply_affine(align.quad_to_square_matrix(align.ffhq_quad(lm), SIZE), lm)
    left, right = eye_centres(aligned)
    np.testing.assert_allclose(left, CANON_LEFT_EYE, atol=1e-4)
    np.testing.assert_allclose(right, CANON_RIGHT_EYE, atol=1e-4)


@pytest.mark.parametrize("angle, scale, shift", [(30.0, 1.0, (0, 0)), (-75.0, 3.5, (400, -20)), (170.0, 0.4, (5, 9))])
def test_alignment_undoes_rotation_scale_and_shift(angle, scale, shift):
    lm = synthetic_landmarks()
    t = np.deg2rad(angle)
    rot = scale * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    moved = lm @ rot.T + np.asarray(shift, dtype=float)
    aligned = align.apply_affine(align.quad_to_square_matrix(align.ffhq_quad(moved), SIZE), moved)
    left, right = eye_centres(aligned)
    np.testing.assert_allclose(left, CANON_LEFT_EYE, atol=1e-3)
    np.testing.assert_allclose(right, CANON_RIGHT_EYE, atol=1e-3)
    assert aligned[48:55:6, 1].mean() > left[1]  # mouth below the eyes: not mirrored


def blob_image(h: int, w: int, centre: tuple[float, float], sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma**2))
    return np.repeat((255 * g).astype(np.uint8)[..., None], 3, axis=2)


def local_centroid(img: np.ndarray, around: np.ndarray, radius: int = 8) -> np.ndarray:
    """Intensity centroid of the blob within `radius` px of `around` (its reflected copies elsewhere are ignored)."""
    w = img[..., 0].astype(np.float64)
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    near = (np.abs(yy - around[1]) <= radius) & (np.abs(xx - around[0]) <= radius) & (w > 0.3 * w.max())
    w = np.where(near, w, 0.0)
    return np.array([(xx * w).sum() / w.sum(), (yy * w).sum() / w.sum()])


@pytest.mark.parametrize(
    "quad_side, image_side",
    [(64.0, 200), (1000.0, 1200), (300.0, 120)],  # enlarging; shrinking 8x (pre-shrink path); quad beyond the photo
)
def test_warped_pixels_follow_the_matrix(quad_side, image_side):
    centre = np.array([image_side * 0.45, image_side * 0.55])
    t = np.deg2rad(20.0)
    x = quad_side / 2 * np.array([np.cos(t), np.sin(t)])
    y = np.array([-x[1], x[0]])
    quad = np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])
    dot = centre + 0.2 * x - 0.1 * y
    img = blob_image(image_side, image_side, tuple(dot), sigma=quad_side / 40)
    out, matrix = align.warp_quad(img, quad, SIZE)
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8
    expected = align.apply_affine(matrix, dot[None])[0]
    assert out[..., 0].max() > 200
    np.testing.assert_allclose(local_centroid(out, np.round(expected)), expected, atol=0.2)  # half-pixel slips show


@pytest.fixture(scope="module")
def astronaut_faces():
    skdata = pytest.importorskip("skimage.data")
    img = skdata.astronaut()
    return img, align.detect_and_align(img, SIZE, min_face=64)


def test_real_face_is_aligned_to_the_canonical_eyes(astronaut_faces):
    _, faces = astronaut_faces
    face = max(faces, key=lambda f: f.box.score)  # the suit's mission patch is a weak false detection
    assert face.image.shape == (SIZE, SIZE, 3) and face.image.dtype == np.uint8
    left, right = eye_centres(face.landmarks68)
    # A real face's eye-to-mouth ratio moves the eyes' height a little; the eye line is set by the recipe.
    assert abs(left[0] - CANON_LEFT_EYE[0]) < 2.0 and abs(right[0] - CANON_RIGHT_EYE[0]) < 2.0
    assert abs(left[1] - CANON_LEFT_EYE[1]) < 3.0 and abs(right[1] - CANON_RIGHT_EYE[1]) < 3.0
    assert abs(left[1] - right[1]) < 1.0


def test_landmarks_found_again_in_the_aligned_image_agree(astronaut_faces):
    _, faces = astronaut_faces
    face = max(faces, key=lambda f: f.box.score)
    lo, hi = face.landmarks68.min(axis=0), face.landmarks68.max(axis=0)
    box = align.FaceBox(int(lo[0]), int(lo[1]), int(hi[0]) + 1, int(hi[1]) + 1, 0.0)
    again = align.landmarks68(face.image, box)
    for a, b in zip(eye_centres(again), eye_centres(face.landmarks68), strict=True):
        assert np.hypot(*(a - b)) < 2.0


def test_alignment_is_deterministic(astronaut_faces):
    img, faces = astronaut_faces
    again = align.detect_and_align(img, SIZE, min_face=64)
    assert [f.box for f in again] == [f.box for f in faces]
    for a, b in zip(again, faces, strict=True):
        assert np.array_equal(a.image, b.image)


def test_min_face_drops_smaller_faces(astronaut_faces):
    img, faces = astronaut_faces
    assert all(f.box.side >= 64 for f in faces)
    assert align.detect_and_align(img, SIZE, min_face=max(f.box.side for f in faces) + 1) == []
