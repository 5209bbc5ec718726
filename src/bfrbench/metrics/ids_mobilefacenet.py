"""Identity angle with an ArcFace-style MobileFaceNet (`ids_mobilefacenet`): a real, offline-capable IDS in degrees.

The network is `model/fr_feature.onnx` of the npm package faceplugin-face-recognition-js 0.0.1 (512-D embedding of a
112x112 RGB crop aligned to the standard ArcFace 5-point template; the package feeds (x - 127) / 128 per channel,
RGB order). The registry entry `mobilefacenet_faceplugin` downloads the npm tarball (sha256-checked); the ONNX member
is extracted once next to it in the cache, checked against its own sha256.

Protocol: dlib 5-point landmarks on the GROUND TRUTH (fixed FFHQ face box, as `ids_dlib`), mapped onto the ArcFace
template (`bfrbench.metrics.face_align`); the same transform cuts the 112 crop from both images; score = angle
between the two embeddings, arccos(cos) in degrees (the unit of the field's "Deg."; computed stably, see
`ids_arcface.angle_degrees`).
Different network, data and alignment than VQFR's ArcFace resnet18: its degrees are NOT comparable with
`ids_arcface_r18`.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from bfrbench.assets import sha256_file
from bfrbench.errors import AssetError
from bfrbench.metrics.base import Metric
from bfrbench.metrics.face_align import DlibLandmarks, arcface_matrix_from_dlib5, warp_arcface
from bfrbench.metrics.gt_cache import Protocol, gt_values
from bfrbench.metrics.ids_arcface import angle_degrees
from bfrbench.metrics.spec import MetricSpec

WEIGHTS_ENTRY = "mobilefacenet_faceplugin"
ONNX_MEMBER = "package/model/fr_feature.onnx"
ONNX_SHA256 = "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581"


def extract_member(tarball: Path, member: str, sha256: str, dest: Path) -> Path:
    """`member` of `tarball` written atomically to `dest` (reused when its sha256 matches)."""
    from bfrbench.io.atomic import atomic_path

    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    with tarfile.open(tarball, "r:gz") as tar:
        try:
            source = tar.extractfile(member)
        except KeyError:
            source = None
        if source is None:
            raise AssetError(f"{tarball} has no file {member}",
                             fix=f"delete it and run `bfrbench weights fetch {WEIGHTS_ENTRY}`")
        data = source.read()
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
        got = sha256_file(tmp)
        if got != sha256:
            raise AssetError(f"{tarball}:{member} has sha256 {got[:16]}..., expected {sha256[:16]}...",
                             fix=f"delete {tarball} and run `bfrbench weights fetch {WEIGHTS_ENTRY}`")
    return dest


def mobilefacenet_onnx(download: bool = False) -> Path:
    from bfrbench.weights import weights_path

    tarball = weights_path(WEIGHTS_ENTRY, download=download)
    return extract_member(tarball, ONNX_MEMBER, ONNX_SHA256, tarball.parent / "faceplugin-0.0.1-fr_feature.onnx")


class IdsMobileFaceNet(Metric):
    def __init__(self, spec: MetricSpec, landmark_model_dir: str | None = None):
        super().__init__(spec)
        self.landmarks = DlibLandmarks(5, landmark_model_dir)
        self._session = None

    def check_available(self) -> str | None:
        from bfrbench.weights import weights_reason

        return weights_reason(WEIGHTS_ENTRY) or self.landmarks.check_available()

    def _load(self):
        if self._session is None:
            reason = self.check_available()
            if reason:
                raise AssetError(f"metric '{self.name}' {reason}")
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1  # deterministic and polite on 2 cores; the net is tiny
            self._session = ort.InferenceSession(str(mobilefacenet_onnx()), options, providers=["CPUExecutionProvider"])
        return self._session

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """512-D embeddings of RGB uint8 112x112 crops (the ONNX graph has a fixed batch of 1)."""
        session = self._load()
        name = session.get_inputs()[0].name
        out = []
        for crop in crops:
            x = ((crop.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
            out.append(session.run(None, {name: np.ascontiguousarray(x)})[0][0])
        return np.stack(out)

    def crops(self, pred: np.ndarray, gt: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Both images of each pair warped by the ground truth's landmarks."""
        pred_crops, gt_crops = [], []
        for pred_image, gt_image, points in zip(pred, gt, self.landmarks.gt_points(gt)):
            m = arcface_matrix_from_dlib5(points)
            gt_crops.append(warp_arcface(gt_image, m))
            pred_crops.append(warp_arcface(pred_image, m))
        return pred_crops, gt_crops

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        self._load()
        pred_crops, gt_crops = self.crops(pred, gt)
        # the ground truth's embeddings once per face for every score stage (gt_cache; the graph runs one crop at a
        # time anyway); the session runs one thread, so no torch numerics enter the key
        protocol = Protocol("mobilefacenet/embedding", {"member": ONNX_MEMBER},
                            (mobilefacenet_onnx(), self.landmarks.model_path()), uses_torch=False)
        gt_emb = np.stack(gt_values(protocol, gt, lambda i: self.embed([gt_crops[i]])[0]))
        return angle_degrees(self.embed(pred_crops), gt_emb)
