"""The DifFace journal grid: its structure, its random streams, and bit-exactness against DifFace's procedure
replayed with BasicSR 1.4.2's own degradation functions (fetched from the PyPI sdist)."""

import math
import random

import numpy as np
import pytest

from bfrbench.data.difface_grid import GRID_SIZE, SIGMAS, grid_noise, grid_points
from bfrbench.io.images import read_image
from bfrbench.stages.testsets import make_testset


def test_grid_has_4000_points_in_difface_order():
    points = grid_points()
    assert GRID_SIZE == len(points) == 4000
    combos = {(p.jpeg_quality, p.scale, p.noise, p.sigma_x, p.theta) for p in points}
    assert len(combos) == 4000
    first = points[0]
    assert (first.jpeg_quality, first.scale, first.noise, first.sigma_x, first.theta) == (30, 4, 1, 4, 0.0)
    assert (points[1].theta, points[4].sigma_x, points[16].noise, points[80].scale, points[800].jpeg_quality) == (
        math.pi / 4, 8, 5, 8, 40)
    replay = random.Random(10000)
    assert [p.sigma_y for p in points] == [replay.choice(SIGMAS) for _ in range(4000)]


def test_noise_is_the_legacy_global_stream():
    points = grid_points(count=3)
    got = list(grid_noise(points, 64, 64))
    np.random.seed(10000)
    for p, noise in zip(points, got):
        want = np.float32(np.random.randn(64 // p.scale, 64 // p.scale, 3)) * p.noise / 255.0
        assert noise.dtype == np.float32 and np.array_equal(noise, want)


def test_prefix_property(tiny_faces, tmp_path):
    a = grid_points(count=10)
    assert grid_points(count=4000)[:10] == a


@pytest.mark.slow
def test_bit_exact_against_difface_procedure(tmp_path):
    import cv2

    from bfrbench.reference.basicsr_sdist import load_degradations
    from conftest import make_face_set

    bsr = load_degradations()
    faces = make_face_set(tmp_path / "faces", size=128, counts=(("test", 24),), seed=3)
    make_testset("grid", {"kind": "difface_grid", "source_split": "test"}, {"seed": 0, "size": 128}, faces,
                 tmp_path / "grid", progress=False)
    # DifFace's make_testing_data.py + face_degradation, replayed call for call with BasicSR's functions.
    random.seed(10000)
    np.random.seed(10000)
    files = sorted((faces / "hq").glob("*.png"))
    lists = ((30, 40, 50, 60, 70), (4, 8, 12, 16, 20, 24, 28, 32, 36, 40), (1, 5, 10, 15, 20), (4, 8, 12, 16),
             [x * math.pi for x in (0, 0.25, 0.5, 0.75)])
    k = 0
    for qf in lists[0]:
        for sf in lists[1]:
            for nf in lists[2]:
                for sig_x in lists[3]:
                    for theta in lists[4]:
                        if k == len(files):
                            return
                        im = cv2.imread(str(files[k]), cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
                        sig_y = random.choice(lists[3])
                        h, w = im.shape[:2]
                        kernel = bsr.bivariate_Gaussian(41, sig_x, sig_y, theta, isotropic=False)
                        lq = cv2.filter2D(im, -1, kernel)
                        lq = cv2.resize(lq, (int(w // sf), int(h // sf)), interpolation=cv2.INTER_LINEAR)
                        lq = bsr.add_gaussian_noise(lq, sigma=nf, clip=True, rounds=False)
                        lq = bsr.add_jpg_compression(lq, quality=qf)
                        lq = cv2.resize(lq, (w, h), interpolation=cv2.INTER_LINEAR)
                        want = np.clip((lq * 255.0).round(), 0, 255).astype(np.uint8)[:, :, ::-1]
                        got = read_image(tmp_path / "grid" / "lq" / files[k].name)
                        assert np.array_equal(got, want), f"image {k} ({files[k].name}) differs"
                        k += 1
