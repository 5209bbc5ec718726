"""Identity angle with insightface's buffalo_l recogniser (`ids_insightface`): ArcFace ResNet-50 on WebFace600K.

Weights: the official model pack buffalo_l.zip (registry entry `insightface_buffalo_l`); its w600k_r50.onnx
(recognition) and det_10g.onnx (SCRFD-10G detector with 5 keypoints) are extracted next to the cache. Run through
insightface's own `model_zoo.get_model` / `ArcFaceONNX.get_feat` (BGR crop, swapRB, (x - 127.5) / 127.5).

Protocol:
- Landmarks come from the GROUND TRUTH only (as `ids_dlib`): det_10g's 5 keypoints of the largest, most central face
  (insightface's max_num=1 rule, input 640x640, threshold 0.5). If det_10g finds no face in a ground-truth crop,
  dlib's 5-point landmarks in the fixed FFHQ box mapped to the ArcFace frame (`bfrbench.metrics.face_align`) are
  used instead; `landmarks="dlib5"` uses those for every image.
- The same similarity transform (least squares onto insightface's arcface_dst, as `norm_crop`) cuts the 112 crop
  from both images, so a pair is compared at exactly the same geometry.
- Score = angle between the two 512-D embeddings, arccos(cos) in degrees. insightface itself reports cosine
  similarity; bfrbench reports the angle so that every identity metric of the suite is in the field's unit
  ("Deg."), lower is better. cos = cos(angle) if a user wants insightface's number back.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from bfrbench.errors import AssetError, BFRBenchError, unavailable
from bfrbench.metrics.base import Metric
from bfrbench.metrics.face_align import (
    ARCFACE_TEMPLATE_112,
    DlibLandmarks,
    arcface_matrix_from_dlib5,
    similarity_transform,
    warp_arcface,
)
from bfrbench.metrics.ids_arcface import angle_degrees
from bfrbench.metrics.spec import MetricSpec

WEIGHTS_ENTRY = "insightface_buffalo_l"
RECOGNITION_ONNX = "w600k_r50.onnx"
DETECTION_ONNX = "det_10g.onnx"
DET_SIZE = (640, 640)
DET_THRESHOLD = 0.5
LANDMARK_SOURCES = ("det_10g", "dlib5")


def extract_from_zip(archive: Path, basename: str, dest_dir: Path) -> Path:
    """The member of `archive` whose file name is `basename` (any folder), extracted atomically into `dest_dir`."""
    from bfrbench.io.atomic import atomic_path

    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.infolist() if Path(m.filename).name == basename and not m.is_dir()]
        if not members:
            raise AssetError(f"{archive} has no file {basename}",
                             fix=f"delete it and run `bfrbench weights fetch {WEIGHTS_ENTRY}`")
        member = members[0]
        dest = dest_dir / basename
        if dest.is_file() and dest.stat().st_size == member.file_size:
            return dest
        with atomic_path(dest) as tmp:
            tmp.write_bytes(zf.read(member))
    return dest


class IdsInsightface(Metric):
    def __init__(self, spec: MetricSpec, landmarks: str = "det_10g", landmark_model_dir: str | None = None):
        super().__init__(spec)
        if landmarks not in LANDMARK_SOURCES:
            raise BFRBenchError(f"metric '{spec.name}': unknown landmarks '{landmarks}'",
                                fix=f"use one of: {', '.join(LANDMARK_SOURCES)}")
        self.landmark_source = landmarks
        self.dlib5 = DlibLandmarks(5, landmark_model_dir)
        self._recognizer = None
        self._detector = None
        self.n_dlib_fallback = 0  # ground truths where det_10g found no face

    def check_available(self) -> str | None:
        from bfrbench.weights import weights_reason

        reason = weights_reason(WEIGHTS_ENTRY)  # first: the imports cost seconds, wasted without the weights
        if reason:
            return reason
        try:
            import insightface  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            return unavailable(f"insightface/onnxruntime do not import ({exc})", "pip install insightface onnxruntime")
        return self.dlib5.check_available()

    def _load(self) -> None:
        if self._recognizer is not None:
            return
        reason = self.check_available()
        if reason:
            raise AssetError(f"metric '{self.name}' {reason}")
        from insightface.model_zoo import get_model

        from bfrbench.assets import cache_dir
        from bfrbench.weights import weights_path

        archive = weights_path(WEIGHTS_ENTRY)
        folder = cache_dir() / "buffalo_l"
        providers = ["CPUExecutionProvider"]
        self._recognizer = get_model(str(extract_from_zip(archive, RECOGNITION_ONNX, folder)), providers=providers)
        self._recognizer.prepare(ctx_id=-1)
        if self.landmark_source == "det_10g":
            self._detector = get_model(str(extract_from_zip(archive, DETECTION_ONNX, folder)), providers=providers)
            self._detector.prepare(ctx_id=-1, input_size=DET_SIZE, det_thresh=DET_THRESHOLD)

    def alignment(self, gt_image: np.ndarray) -> np.ndarray:
        """2x3 transform onto the ArcFace 112 template from the ground truth's landmarks."""
        if self._detector is not None:
            _, kpss = self._detector.detect(np.ascontiguousarray(gt_image[..., ::-1]), max_num=1)
            if kpss is not None and len(kpss):
                return similarity_transform(kpss[0], ARCFACE_TEMPLATE_112)
            self.n_dlib_fallback += 1
        return arcface_matrix_from_dlib5(self.dlib5(gt_image))

    def embed(self, crops_rgb: list[np.ndarray]) -> np.ndarray:
        self._load()
        bgr = [np.ascontiguousarray(c[..., ::-1]) for c in crops_rgb]
        batch = getattr(self._recognizer, "input_shape", [None])[0]
        if isinstance(batch, int) and batch > 0:  # an ONNX graph with a fixed batch size: one crop per call
            return np.concatenate([np.asarray(self._recognizer.get_feat([c]), np.float64) for c in bgr])
        return np.asarray(self._recognizer.get_feat(bgr), np.float64)

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        self._load()
        pred_crops, gt_crops = [], []
        for pred_image, gt_image in zip(pred, gt):
            m = self.alignment(gt_image)
            gt_crops.append(warp_arcface(gt_image, m))
            pred_crops.append(warp_arcface(pred_image, m))
        return angle_degrees(self.embed(pred_crops), self.embed(gt_crops))
