"""Small sets of REAL aligned faces for set-level metric tests (public-domain photos of scikit-image and matplotlib)."""

import cv2
import numpy as np


def real_aligned_faces(size: int = 128) -> np.ndarray:
    """4 FFHQ-aligned faces: two real photos and their mirror images (a mirrored face is a new sample to dlib)."""
    from matplotlib import cbook
    from skimage import data

    from bfrbench.data.align import align_face, detect_faces

    hopper_path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    hopper = cv2.cvtColor(cv2.imread(str(hopper_path)), cv2.COLOR_BGR2RGB)
    faces = []
    for photo in (data.astronaut(), hopper):
        box = max(detect_faces(photo, 64), key=lambda b: b.score)
        aligned = align_face(photo, box, size).image
        faces += [aligned, np.ascontiguousarray(aligned[:, ::-1])]
    return np.stack(faces)


def down_up(batch: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic x`factor` down then up again: a controlled loss of detail."""
    h, w = batch.shape[1:3]
    return np.stack([
        cv2.resize(cv2.resize(x, (w // factor, h // factor), interpolation=cv2.INTER_CUBIC), (w, h),
                   interpolation=cv2.INTER_CUBIC)
        for x in batch
    ])
