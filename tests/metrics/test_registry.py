"""The registry describes metrics without importing heavy libraries, and builds them lazily."""

import subprocess
import sys

import numpy as np
import pytest

from bfrbench.errors import BFRBenchError
from bfrbench.metrics.registry import METRICS, create_metric, get_spec, metric_names
from bfrbench.metrics.spec import MetricSpec


def test_import_is_light():
    code = (
        "import sys, bfrbench.metrics.registry, bfrbench.metrics\n"
        "heavy = [m for m in ('torch', 'cv2', 'dlib', 'pyiqa', 'numpy') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_specs_are_complete_and_named_by_key():
    assert {"psnr_rgb", "psnr_y", "ssim_rgb", "ssim_y", "ids_dlib"} <= set(METRICS)
    for name, spec in METRICS.items():
        assert isinstance(spec, MetricSpec) and spec.name == name
        lo, hi = spec.value_range
        assert lo < hi
        assert ":" in spec.factory and spec.protocol
    assert get_spec("psnr_y").direction == "higher is better"
    assert get_spec("ids_dlib").direction == "lower is better"


def test_protocols_name_colour_space_and_convention():
    assert "RGB" in get_spec("psnr_rgb").protocol and "BasicSR" in get_spec("psnr_rgb").protocol
    assert "YCbCr" in get_spec("ssim_y").protocol and "BasicSR" in get_spec("ssim_y").protocol
    assert "GROUND TRUTH" in get_spec("ids_dlib").protocol


def test_spec_is_frozen():
    with pytest.raises(AttributeError):
        get_spec("psnr_rgb").unit = "x"


def test_unknown_name_lists_known_names():
    with pytest.raises(BFRBenchError) as info:
        get_spec("lpipz")
    assert "lpipz" in str(info.value) and "psnr_rgb" in str(info.value) and "ids_dlib" in str(info.value)


def test_create_metric_builds_the_registered_class():
    metric = create_metric("psnr_rgb")
    assert metric.spec is get_spec("psnr_rgb") and metric.check_available() is None
    img = np.zeros((1, 16, 16, 3), np.uint8)
    assert metric.score_batch(img, img).tolist() == [np.inf]


def test_create_metric_rejects_unknown_option():
    with pytest.raises(BFRBenchError, match="psnr_rgb"):
        create_metric("psnr_rgb", crop_border=4)


def test_metric_names_filter():
    fr, nr = metric_names(full_reference=True), metric_names(full_reference=False)
    assert sorted(fr + nr) == sorted(METRICS) and not set(fr) & set(nr)
    assert all(get_spec(n).full_reference for n in fr)
