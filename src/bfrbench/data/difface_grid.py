"""The DifFace (journal version) synthetic test grid, reproduced exactly.

4,000 combinations: JPEG quality {30..70} x scale {4..40} x noise {1..20} x sigma_x {4..16} x theta {0..3pi/4}, in
that nesting order, image k of the sorted HQ folder getting combination k. sigma_y is `random.choice` of the sigma
list from Python's `random` seeded with 10000, drawn once per image in order; the noise is numpy's legacy global
stream seeded with 10000, `float32(randn(h // sf, w // sf, 3)) * nf / 255`, drawn once per image in order. The
degradation is DifFace's `face_degradation`: anisotropic Gaussian(41) -> bilinear down -> noise (clip) -> JPEG ->
bilinear up -> round. Both streams are replayed sequentially, so the grid is exact whatever the worker count.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from bfrbench.data.degradation import KERNEL_SIZE, DegradationParams

JPEG_QUALITIES = (30, 40, 50, 60, 70)
SCALES = (4, 8, 12, 16, 20, 24, 28, 32, 36, 40)
NOISE_LEVELS = (1, 5, 10, 15, 20)
SIGMAS = (4, 8, 12, 16)
THETAS = tuple(x * math.pi for x in (0, 0.25, 0.5, 0.75))
GRID_SIZE = len(JPEG_QUALITIES) * len(SCALES) * len(NOISE_LEVELS) * len(SIGMAS) * len(THETAS)
DEFAULT_SEED = 10000


@dataclass(frozen=True)
class GridPoint:
    index: int
    jpeg_quality: int
    scale: int
    noise: int
    sigma_x: float
    sigma_y: float
    theta: float

    def params(self) -> DegradationParams:
        return DegradationParams(
            branch=0, kernel="aniso", sigma_x=float(self.sigma_x), sigma_y=float(self.sigma_y), theta=self.theta,
            scale=float(self.scale), noise_sigma=float(self.noise), jpeg_quality=int(self.jpeg_quality),
            noise_seed=-1, color_shift=None, gray=False, kernel_size=KERNEL_SIZE,
        )


def grid_points(seed: int = DEFAULT_SEED, count: int = GRID_SIZE) -> list[GridPoint]:
    """The first `count` grid points in DifFace's order, with sigma_y replayed from Python's `random`."""
    if not 0 < count <= GRID_SIZE:
        raise ValueError(f"count must be in 1..{GRID_SIZE}, got {count}")
    rng = random.Random(seed)
    points = []
    for qf in JPEG_QUALITIES:
        for sf in SCALES:
            for nf in NOISE_LEVELS:
                for sig_x in SIGMAS:
                    for theta in THETAS:
                        if len(points) == count:
                            return points
                        sig_y = rng.choice(SIGMAS)
                        points.append(GridPoint(len(points), qf, sf, nf, sig_x, sig_y, theta))
    return points


def grid_noise(points: list[GridPoint], height: int, width: int, seed: int = DEFAULT_SEED) -> Iterator[np.ndarray]:
    """The noise arrays DifFace's script adds, in order (legacy RandomState stream, BasicSR's float32 scaling)."""
    state = np.random.RandomState(seed)
    for p in points:
        shape = (int(height // p.scale), int(width // p.scale), 3)
        yield np.float32(state.randn(*shape)) * p.noise / 255.0
