"""Face detection (dlib HOG), 68-point landmarks (dlib, iBUG 300-W model) and FFHQ-style alignment.

Coordinates are pixel-index coordinates throughout (the centre of pixel (i, j) is x=j, y=i), the convention of dlib
landmarks and of cv2.warpAffine. A point of the source photo maps to the aligned image by the 2x3 matrix `A`
returned with each face, so landmarks, boxes or any other annotation can follow the face.

The alignment is the FFHQ recipe (Karras et al., `ffhq-dataset/download_ffhq.py`): an oriented square ("quad") is
derived from the eye centres and mouth corners and resampled to a `size` x `size` image, with reflection beyond the
photo's border. Differences from that script, and why:
- one affine warp of the quad instead of PIL's crop / shrink / pad / QUAD transform chain (same geometry);
- FFHQ blends a blurred copy into the reflected padding to hide the mirror seam; that is skipped: it only changes
  pixels outside the photo, and the smoke set must stay cheap and simple;
- quality when shrinking: the photo is first shrunk with area averaging until the quad spans ~2x the output, warped
  bilinearly at 2x, then area-averaged to `size` (FFHQ also renders at 4x and antialiases down).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# dlib's frontal HOG detector scans an 80x80 window: a smaller face is only found after upsampling the image.
HOG_WINDOW = 80
MAX_UPSAMPLE = 3
# Large photos are searched on a shrunken copy (HOG time grows with the pixel count); landmarks and the warp
# still use the full-resolution photo. Upsampling stops before the searched image exceeds DETECT_MAX_SEARCH_SIDE:
# in a 3322 px photo an 8x upsampled search took 10 s; the cost is that faces under ~2.5% of a big photo's side
# (80 px * side / 2048) are missed, and none of the sources has such faces.
DETECT_MAX_SIDE = 1024
DETECT_MAX_SEARCH_SIDE = 2048


@dataclass(frozen=True)
class FaceBox:
    """A detection in source-photo pixels; x1/y1 are exclusive. `score` is the HOG detector's confidence."""

    x0: int
    y0: int
    x1: int
    y1: int
    score: float

    @property
    def side(self) -> int:
        return max(self.x1 - self.x0, self.y1 - self.y0)


@dataclass(frozen=True, eq=False)
class AlignedFace:
    image: np.ndarray  # size x size x 3, RGB uint8
    box: FaceBox
    landmarks68: np.ndarray  # (68, 2) float64, aligned-image pixels
    source_landmarks68: np.ndarray  # (68, 2) float64, source-photo pixels
    quad: np.ndarray  # (4, 2) FFHQ quad in source pixels: top-left, bottom-left, bottom-right, top-right of the output
    matrix: np.ndarray  # (2, 3) affine, source pixels -> aligned pixels


@contextlib.contextmanager
def _cv2_single_threaded() -> Iterator[None]:
    """Run OpenCV calls on the calling thread only.

    Once OpenCV's pthreads pool has run, a process forked later (DataLoader workers) hangs at its first OpenCV call
    (seen in a test session: alignment tests, then a 2-worker DataLoader). Our images are small, so the pool buys
    nothing here; not starting it keeps every later fork safe. Results are identical either way.
    """
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


@functools.lru_cache(maxsize=1)
def _detector():
    import dlib

    return dlib.get_frontal_face_detector()


@functools.lru_cache(maxsize=1)
def _predictor():
    import dlib
    import face_recognition_models

    return dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


def _upsample_for(min_face: float) -> int:
    if min_face <= 0:
        return MAX_UPSAMPLE
    return int(min(MAX_UPSAMPLE, max(0, math.ceil(math.log2(HOG_WINDOW / min_face)))))


def detect_faces(rgb: np.ndarray, min_face: int) -> list[FaceBox]:
    """All frontal faces dlib's HOG detector finds, upsampling to reach faces of `min_face` px (within limits above).

    Faces smaller than `min_face` may be returned too (the caller decides what is too small). Sorted by (x0, y0)
    so that a face's index in the list is stable.
    """
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    work = rgb
    if scale < 1.0:
        with _cv2_single_threaded():
            work = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    sx, sy = work.shape[1] / w, work.shape[0] / h
    upsample = _upsample_for(min_face * scale)
    while upsample > 0 and max(work.shape[:2]) * 2**upsample > DETECT_MAX_SEARCH_SIDE:
        upsample -= 1
    rects, scores, _ = _detector().run(np.ascontiguousarray(work), upsample, 0.0)
    boxes = [
        # dlib's right/bottom are inclusive pixel indices; +1 gives the far edge, which scales with the image.
        FaceBox(
            x0=round(r.left() / sx),
            y0=round(r.top() / sy),
            x1=round((r.right() + 1) / sx),
            y1=round((r.bottom() + 1) / sy),
            score=float(s),
        )
        for r, s in zip(rects, scores, strict=True)
    ]
    return sorted(boxes, key=lambda b: (b.x0, b.y0, b.x1, b.y1))


def landmarks68(rgb: np.ndarray, box: FaceBox) -> np.ndarray:
    """The 68 iBUG landmarks of the face in `box`, (68, 2) float64 in source pixels."""
    import dlib

    rect = dlib.rectangle(box.x0, box.y0, box.x1 - 1, box.y1 - 1)
    shape = _predictor()(np.ascontiguousarray(rgb), rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def ffhq_quad(lm68: np.ndarray) -> np.ndarray:
    """The FFHQ crop square from 68 landmarks: corners top-left, bottom-left, bottom-right, top-right of the output."""
    lm = np.asarray(lm68, dtype=np.float64)
    eye_left = lm[36:42].mean(axis=0)
    eye_right = lm[42:48].mean(axis=0)
    mouth_avg = (lm[48] + lm[54]) / 2.0
    eye_avg = (eye_left + eye_right) / 2.0
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = mouth_avg - eye_avg

    # x: the face's horizontal axis, a compromise between the eye line and the normal of the eye-mouth line, so
    # that neither a tilted eye line nor a crooked mouth alone decides the rotation.
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    # y: x turned 90 degrees towards the mouth (image y grows downwards). This is FFHQ's `flipud(x) * [-1, 1]`;
    # the other sign would mirror the output vertically.
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_to_square_matrix(quad: np.ndarray, size: int) -> np.ndarray:
    """2x3 affine mapping source pixels to output pixels so that the quad's outer edges become the image edges.

    The quad's corners are edges, not pixel centres: they go to -0.5 and size-0.5.
    """
    import cv2

    src = np.asarray(quad, dtype=np.float32)[[0, 1, 3]]
    lo, hi = -0.5, size - 0.5
    dst = np.array([[lo, lo], [lo, hi], [hi, lo]], dtype=np.float32)
    return cv2.getAffineTransform(src, dst).astype(np.float64)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The affine that applies `inner` first, then `outer`."""
    m = np.vstack([outer, [0.0, 0.0, 1.0]]) @ np.vstack([inner, [0.0, 0.0, 1.0]])
    return m[:2]


def _reflect_indices(idx: np.ndarray, n: int) -> np.ndarray:
    # numpy's pad mode "reflect" (edge pixel not repeated), which is what FFHQ pads with, for any distance.
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    m = np.mod(idx, period)
    return np.where(m >= n, period - m, m)


def warp_quad(rgb: np.ndarray, quad: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample the quad of `rgb` to a size x size image; returns (image, 2x3 source->output matrix)."""
    with _cv2_single_threaded():
        return _warp_quad(rgb, np.asarray(quad, dtype=np.float64), size)


def _warp_quad(rgb: np.ndarray, quad: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    matrix = quad_to_square_matrix(quad, size)
    src_per_out = float(np.hypot(*(quad[3] - quad[0]))) / size

    # Work on a reflect-padded crop around the quad: bounded cost on huge photos, and the padding reproduces
    # FFHQ's reflection wherever the quad leaves the photo.
    margin = 2 * math.ceil(src_per_out) + 2
    x_lo = math.floor(quad[:, 0].min()) - margin
    y_lo = math.floor(quad[:, 1].min()) - margin
    x_hi = math.ceil(quad[:, 0].max()) + margin + 1
    y_hi = math.ceil(quad[:, 1].max()) + margin + 1
    h, w = rgb.shape[:2]
    rows = _reflect_indices(np.arange(y_lo, y_hi), h)
    cols = _reflect_indices(np.arange(x_lo, x_hi), w)
    crop = rgb[rows[:, None], cols[None, :]]
    to_crop = np.array([[1.0, 0.0, -x_lo], [0.0, 1.0, -y_lo]])

    if src_per_out <= 1.0:
        # Enlarging (low-resolution photos): one bicubic warp.
        m = _compose(matrix, _invert(to_crop))  # crop pixels -> output pixels
        out = cv2.warpAffine(crop, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        return out, matrix

    # Shrinking: bilinear sampling aliases once a step skips source pixels, so area-average the crop until the
    # quad spans about 2*size pixels, warp to 2*size, then area-average 2x2 blocks down to size.
    work, to_work = crop, to_crop
    shrink = src_per_out / 2.0
    if shrink > 1.0:
        ch, cw = crop.shape[:2]
        nw, nh = max(1, round(cw / shrink)), max(1, round(ch / shrink))
        work = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
        fx, fy = nw / cw, nh / ch
        # area resize maps pixel edges linearly: x' + 0.5 = (x + 0.5) * f
        resize = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5]])
        to_work = _compose(resize, to_crop)
    double = np.array([[2.0, 0.0, 0.5], [0.0, 2.0, 0.5]])  # output pixels -> 2x pixels, edges aligned
    m = _compose(_compose(double, matrix), _invert(to_work))  # work pixels -> 2x output pixels
    big = cv2.warpAffine(work, m, (2 * size, 2 * size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    out = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    return out, matrix


def _invert(affine: np.ndarray) -> np.ndarray:
    m = np.linalg.inv(np.vstack([affine, [0.0, 0.0, 1.0]]))
    return m[:2]


def align_face(rgb: np.ndarray, box: FaceBox, size: int) -> AlignedFace:
    """Landmark the face in `box` and warp its FFHQ quad to a size x size image."""
    src_lm = landmarks68(rgb, box)
    quad = ffhq_quad(src_lm)
    image, matrix = warp_quad(rgb, quad, size)
    return AlignedFace(
        image=image,
        box=box,
        landmarks68=apply_affine(matrix, src_lm),
        source_landmarks68=src_lm,
        quad=quad,
        matrix=matrix,
    )


def detect_and_align(rgb: np.ndarray, size: int, min_face: int) -> list[AlignedFace]:
    """Every face with a box side >= `min_face` px, aligned FFHQ-style to size x size, in `detect_faces` order."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"detect_and_align expects RGB uint8 HxWx3, got {rgb.dtype} {rgb.shape}")
    return [align_face(rgb, box, size) for box in detect_faces(rgb, min_face) if box.side >= min_face]
