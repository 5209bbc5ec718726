"""RestoreFormer's identity metric ("IDD"): `ids_arcface_r18_rad`, the ArcFace angle in RADIANS with GFPGAN's
ArcFace, as wzhouxiff/RestoreFormer and wzhouxiff/RestoreFormerPlusPlus scripts/metrics/cal_identity_distance.py
compute it.

The network is the one `ids_arcface_r18` runs (bfrbench.nets.arcface_resnet, GFPGAN's `ResNetArcFace(block='IRBlock',
layers=[2, 2, 2, 2], use_se=False)`), loaded from `arcface_resnet18.pth` of the GFPGAN v0.1.0 release (the file the
script loads from experiments/pretrained_models/). Only the input convention and the unit differ, so this is a
subclass with its own `prepare`.

Per pair, what the script does (reproduced bit for bit in float32 by `restoreformer_gray128`):
- cv2.imread(path) gives BGR uint8; x.astype(float32) / 255, no mean/std normalisation: the network sees [0, 1]
  (QUIRK 1: the network was trained on (x - 127.5) / 127.5; GFPGAN's identity loss feeds its [-1, 1] tensors).
- gray = 0.2989 * ch0 + 0.5870 * ch1 + 0.1140 * ch2 on the channels AS READ, i.e. B, G, R (QUIRK 2: GFPGAN's loss
  applies the same function to RGB tensors, so there 0.2989 weighs red; in the script it weighs blue). Float, never
  rounded to 8 bits (unlike VQFR's cv2.imread(path, 0)).
- torch F.interpolate to 128x128, bilinear, align_corners=False (no antialiasing).
- score = np.arccos(<a, b> / (|a| |b|)) in radians (the script's function is misnamed `cosine_similarity`).
Options reproduce GFPGAN's own convention instead: `channel_order="rgb"`, `input_range="-1_1"` (both documented in the
protocol string; the defaults are the script's, because they are what RestoreFormer's published IDD numbers used).

Where bfrbench deliberately differs from the script:
- Pairing and the mean: the script globs the GT folder, looks for `<gt stem>.png` (or `_00.png`) among the restored
  images, SKIPS a missing one but still divides the sum by the number of GT files (a missing image counts as 0 rad).
  The scoring engine pairs by file stem and stops on any unpaired file, so every pair is scored and the mean is the
  plain mean.
- Numerics: the script's arccos of a float32 cosine is not clipped, so an identical pair can give NaN (and a NaN
  mean); bfrbench computes the angle in float64 as 2 atan2(|u - v|, |u + v|) of the unit vectors (0 for identical
  embeddings). Elsewhere the two differ by float32 rounding of the cosine only (<~1e-3 rad near 0, far less elsewhere).
- Device: CPU, batches of `batch_size` (BatchNorm in eval mode: an embedding does not depend on its batch, up to
  float rounding); the script runs one image at a time on CUDA.
"""

from __future__ import annotations

import numpy as np

from bfrbench.errors import BFRBenchError
from bfrbench.metrics.ids_arcface import INPUT_SIZE, IdsArcfaceR18, angle_radians
from bfrbench.metrics.spec import MetricSpec

GFPGAN_WEIGHTS = "arcface_resnet18_gfpgan"
# The gray weights of RestoreFormer's (and GFPGAN's) gray_resize_for_identity, in the order they are applied.
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)
CHANNEL_ORDERS = ("bgr", "rgb")
INPUT_RANGES = ("0_1", "-1_1")


def restoreformer_gray128(images, channel_order: str = "bgr", input_range: str = "0_1") -> np.ndarray:
    """N x 1 x 128 x 128 float32 network input of uint8 RGB images in RestoreFormer's convention (defaults) or
    GFPGAN's (`channel_order="rgb"`, `input_range="-1_1"`). Images may differ in size (each is resized alone)."""
    import torch
    import torch.nn.functional as F

    if channel_order not in CHANNEL_ORDERS or input_range not in INPUT_RANGES:
        raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS} and input_range one of {INPUT_RANGES}, "
                         f"got {channel_order!r}, {input_range!r}")
    out = np.empty((len(images), 1, INPUT_SIZE, INPUT_SIZE), np.float32)
    for i, rgb in enumerate(images):
        # cv2.imread's channel order is BGR: the script's channel 0 is blue.
        planes = np.ascontiguousarray(rgb[..., ::-1] if channel_order == "bgr" else rgb)
        x = torch.from_numpy(planes.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
        if input_range == "-1_1":  # GFPGAN's tensors: normalize(mean 0.5, std 0.5) before the gray
            x = (x - 0.5) / 0.5
        # Same float32 operations in the same order as the script, so the gray image matches it bit for bit.
        gray = GRAY_WEIGHTS[0] * x[:, 0, :, :] + GRAY_WEIGHTS[1] * x[:, 1, :, :] + GRAY_WEIGHTS[2] * x[:, 2, :, :]
        gray = F.interpolate(gray.unsqueeze(1), (INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        out[i] = gray[0].numpy()
    return out


class IdsArcfaceR18Rad(IdsArcfaceR18):
    """`channel_order`: "bgr" (the script: gray weights applied to B, G, R) or "rgb" (GFPGAN's loss);
    `input_range`: "0_1" (the script: x/255) or "-1_1" (GFPGAN's loss); `weights_entry`: as ids_arcface_r18's
    (default the GFPGAN release file the script loads)."""

    def __init__(self, spec: MetricSpec, channel_order: str = "bgr", input_range: str = "0_1",
                 weights_entry: str = GFPGAN_WEIGHTS, batch_size: int = 16):
        super().__init__(spec, weights_entry=weights_entry, batch_size=batch_size)
        if channel_order not in CHANNEL_ORDERS:
            raise BFRBenchError(f"metric '{spec.name}': unknown channel_order '{channel_order}'",
                                fix=f"use one of: {', '.join(CHANNEL_ORDERS)}")
        if input_range not in INPUT_RANGES:
            raise BFRBenchError(f"metric '{spec.name}': unknown input_range '{input_range}'",
                                fix=f"use one of: {', '.join(INPUT_RANGES)}")
        self.channel_order = channel_order
        self.input_range = input_range

    def settings(self) -> dict:
        return {"channel_order": self.channel_order, "input_range": self.input_range,
                "weights_entry": self.weights_entry}

    def prepare(self, images) -> np.ndarray:
        return restoreformer_gray128(images, self.channel_order, self.input_range)

    def score_batch(self, pred: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
        self.check_batch(pred, gt)
        return angle_radians(self.pred_embeddings(pred), self.gt_embeddings(gt))
