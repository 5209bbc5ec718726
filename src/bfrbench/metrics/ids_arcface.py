"""The field's identity metric ("Deg." / IDS) as VQFR's metric_paper/calculate_cos_dist.py defines it:
`ids_arcface_r18`.

Per pair (VQFR, reproduced exactly): each image to 8-bit grayscale as cv2.imread(path, 0) does for a PNG file
(OpenCV lets libpng convert, BT.601 0.299/0.587/0.114 in fixed point; bfrbench round-trips the decoded RGB through an
in-memory PNG to get the same bits; for JPEG files VQFR's gray comes from libjpeg instead and may differ by a level),
cv2.resize to 128x128 with INTER_LINEAR,
float32, (x - 127.5) / 127.5; ArcFace resnet_face18 (use_se=False, weights resnet18_110.pth) in eval mode gives a
512-D embedding; score = arccos(cos) in degrees with cos = <a, b> / (|a| |b|). No face alignment: inputs are the
aligned face crops themselves. The set value is the mean; lower is better.

Where bfrbench deliberately differs from that script:
- Pairing: VQFR zips two sorted globs (no name check, so one missing file shifts every pair); bfrbench's scoring
  engine pairs prediction and ground truth by file stem and stops on unpaired names.
- Near-identical pairs: VQFR leaves pairs under 1 degree OUT of the mean (and prints an "identical count").
  bfrbench keeps every pair; `vqfr_drop_under_1deg=True` reproduces VQFR's mean (the dropped count is reported as
  "n_dropped_under_1deg").
- Numerics: VQFR computes cos in float32 and does not clip it, so an identical pair can give arccos(1 + eps) = NaN;
  bfrbench computes the angle in float64 as 2 atan2(|u - v|, |u + v|) of the unit vectors (equal to arccos(cos),
  exact 0 for identical embeddings).
- Device: CPU by default; BatchNorm in eval mode makes each embedding independent of the batch.
"""

from __future__ import annotations

import numpy as np

from bfrbench.errors import AssetError, BFRBenchError
from bfrbench.metrics.base import Metric, _exact_mean
from bfrbench.metrics.gt_cache import Protocol, gt_values
from bfrbench.metrics.spec import MetricSpec

WEIGHTS_ENTRIES = ("arcface_resnet18_vqfr", "arcface_resnet18_gfpgan")
INPUT_SIZE = 128
VQFR_IDENTICAL_DEG = 1.0


def angle_radians(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise angle between embeddings in radians (float64; equals arccos(cos), stable near 0 and pi)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    u = a / np.linalg.norm(a, axis=1, keepdims=True)
    v = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 2.0 * np.arctan2(np.linalg.norm(u - v, axis=1), np.linalg.norm(u + v, axis=1))


def angle_degrees(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise angle between embeddings in degrees (float64; equals arccos(cos), stable near 0 and 180)."""
    return np.degrees(angle_radians(a, b))


def vqfr_gray128(images: np.ndarray) -> np.ndarray:
    """N x 1 x 128 x 128 float32 network input of uint8 RGB images, VQFR's load_image."""
    import cv2

    out = np.empty((len(images), 1, INPUT_SIZE, INPUT_SIZE), np.float32)
    for i, rgb in enumerate(images):
        # cv2.imread(png, 0) converts inside libpng (fixed-point rgb_to_gray), which differs from cvtColor by one
        # level on some pixels: a lossless in-memory PNG round trip reproduces it bit for bit.
        ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise ValueError("PNG encoding failed")
        gray = cv2.imdecode(png, cv2.IMREAD_GRAYSCALE)
        gray = cv2.resize(gray, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        out[i, 0] = (gray.astype(np.float32) - 127.5) / 127.5
    return out


class IdsArcfaceR18(Metric):
    """`weights_entry`: "arcface_resnet18_vqfr" (resnet18_110.pth, the paper metric) or "arcface_resnet18_gfpgan"."""

    def __init__(self, spec: MetricSpec, weights_entry: str = WEIGHTS_ENTRIES[0], vqfr_drop_under_1deg: bool = False,
                 batch_size: int = 16):
        super().__init__(spec)
        if weights_entry not in WEIGHTS_ENTRIES:
            raise BFRBenchError(f"metric '{spec.name}': unknown weights_entry '{weights_entry}'",
                                fix=f"use one of: {', '.join(WEIGHTS_ENTRIES)}")
        self.weights_entry = weights_entry
        self.vqfr_drop_under_1deg = bool(vqfr_drop_under_1deg)
        self.batch_size = int(batch_size)
        self._net = None

    def check_available(self) -> str | None:
        from bfrbench.weights import weights_reason

        reason = weights_reason(self.weights_entry)
        if reason and self.weights_entry == WEIGHTS_ENTRIES[0]:
            why, _, command = reason.partition("; run ")
            reason = (f"{why} (VQFR publishes resnet18_110.pth only in a Google Drive folder: put it in "
                      f"$BFRBENCH_WEIGHTS_DIR); run {command}")
        return reason

    def _load(self):
        if self._net is None:
            reason = self.check_available()
            if reason:
                raise AssetError(f"metric '{self.name}' {reason}")
            from bfrbench.nets.arcface_resnet import load_arcface_resnet18
            from bfrbench.weights import weights_path

            self._net = load_arcface_resnet18(str(weights_path(self.weights_entry)))
        return self._net

    def prepare(self, images) -> np.ndarray:
        """N x 1 x 128 x 128 float32 network input; subclasses with another input convention override it."""
        return vqfr_gray128(images)

    def embed(self, images) -> np.ndarray:
        import torch

        net = self._load()
        x = self.prepare(images)
        with torch.no_grad():
            chunks = [net(torch.from_numpy(x[i : i + self.batch_size])) for i in range(0, len(x), self.batch_size)]
        return torch.cat(chunks).numpy()

    def gt_embeddings(self, gt: np.ndarray) -> np.ndarray:
        """Embeddings of the ground-truth faces, one face per forward pass, once per face for every score stage
        (gt_cache). The protocol names the class (its `prepare` is the input convention) and its settings."""
        from bfrbench.weights import weights_path

        self._load()
        protocol = Protocol(f"{type(self).__module__}.{type(self).__qualname__}",
                            {"weights_entry": self.weights_entry, **self.settings()},
                            (weights_path(self.weights_entry),))
        return np.stack(gt_values(protocol, gt, lambda i: self.embed(gt[i : i + 1])[0]))

    def pred_embeddings(self, pred: np.ndarray) -> np.ndarray:
        """Embeddings of the restored faces, one face per forward pass as the ground truth's: oneDNN picks its
        convolution kernels by batch size (the same face embedded alone and in a batch of three differed by 1.8e-5
        degrees), so only equal passes give a face and its exact copy an angle of exactly 0."""
        return np.concatenate([self.embed(pred[i : i + 1]) for i in range(len(pred))])

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        return angle_degrees(self.pred_embeddings(pred), self.gt_embeddings(gt))

    def summarize(self, values) -> dict:
        if not self.vqfr_drop_under_1deg:
            return super().summarize(values)
        values = np.asarray(values, np.float64).ravel()
        kept = values[values >= VQFR_IDENTICAL_DEG]
        return {"value": _exact_mean(kept), "n": int(kept.size), "n_dropped_under_1deg": int(values.size - kept.size)}
