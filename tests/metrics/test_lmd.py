"""Landmark distances. lmd_dlib68 runs its REAL model on real faces; lmd_fan's official weights are download-only,
so its network runs with random weights (code paths only, slow tier) and its heatmap decoding is checked against
facexlib's own calculate_points."""

import cv2
import numpy as np
import pytest

from bfrbench.metrics.lmd import decode_heatmaps, mean_point_distance
from bfrbench.metrics.registry import create_metric, get_spec
from real_face_sets import real_aligned_faces

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def faces():
    return {size: real_aligned_faces(size) for size in (128, 256)}


@pytest.fixture(scope="module")
def dlib68():
    metric = create_metric("lmd_dlib68")
    reason = metric.check_available()
    if reason:
        pytest.skip(reason)
    return metric


@pytest.mark.parametrize("size", [128, 256])
def test_dlib68_identical_shifted_blurred_other(dlib68, faces, size):
    ast, _, hopper, _ = faces[size]
    shift = size // 32  # 4 or 8 px: 16 px at 512
    shifted = np.roll(ast, shift, axis=1)
    blurred = cv2.GaussianBlur(ast, (0, 0), size / 85)
    values = dlib68.score_batch(np.stack([ast, shifted, blurred, hopper]), np.stack([ast] * 4))
    same, moved, blur, other = values
    assert same == 0.0
    assert 10.0 < moved < 22.0  # the landmarks follow a 16 px (at 512) shift
    assert blur > 0.0
    assert other > blur


def test_dlib68_reports_pixels_at_512(dlib68, faces):
    """The same faces at 128 and 256 px give a similar shift distance once scaled to 512."""
    d = [dlib68.score_batch(np.roll(faces[s][:1], s // 32, axis=2), faces[s][:1])[0] for s in (128, 256)]
    assert abs(d[0] - d[1]) < 6.0, d


def test_mean_point_distance_scales_to_512():
    a = np.zeros((3, 2))
    b = a + [1.0, 0.0]
    assert mean_point_distance(a, b, 128, 128) == 4.0
    assert mean_point_distance(a, b[:, ::-1], 256, 128) == 2.0


def test_decoding_equals_facexlib_calculate_points(monkeypatch):
    awing = pytest.importorskip("facexlib.alignment.awing_arch")
    monkeypatch.setattr(np, "float", float, raising=False)  # facexlib still uses np.float (removed in numpy 1.24)
    rng = np.random.default_rng(0)
    for case in range(4):
        heat = rng.random((1, 98, 64, 64)).astype(np.float32)
        if case == 1:  # a peak on the last row: facexlib's y fallback to cell 4095 for every point of the image
            heat[0, 5, 63, 10] = 5.0
        if case == 2:  # a peak on the first row: fallback to cell 0
            heat[0, 7, 0, 30] = 5.0
        np.testing.assert_array_equal(decode_heatmaps(heat[0]), awing.calculate_points(heat).reshape(-1, 2))


def test_fan_offline_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)
    reason = create_metric("lmd_fan").check_available()
    assert reason.startswith("unavailable: ") and reason.endswith("; run bfrbench weights fetch fan_wflw_4hg")


@pytest.mark.slow
def test_fan_code_path_with_random_weights(tmp_path, monkeypatch, faces):
    torch = pytest.importorskip("torch")
    from facexlib.alignment.awing_arch import FAN

    torch.manual_seed(0)
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save({"state_dict": FAN(num_modules=4, num_landmarks=98, device="cpu").state_dict()},
               folder / "alignment_WFLW_4HG.pth")
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    metric = create_metric("lmd_fan")
    assert metric.check_available() is None
    ast = faces[128][0]
    assert metric.landmarks(ast).shape == (98, 2)
    assert metric.score_batch(ast[None], ast[None]).tolist() == [0.0]


def test_protocols_say_which_landmark_model():
    assert "98 WFLW" in get_spec("lmd_fan").protocol and "512" in get_spec("lmd_fan").protocol
    assert "NOT the papers'" in get_spec("lmd_dlib68").protocol
