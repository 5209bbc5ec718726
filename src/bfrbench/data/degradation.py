"""The naive synthetic degradation every BFR paper trains and tests on, done once.

Order (GFPGAN / CodeFormer / DifFace, see docs/degradation.md):
HQ float [0,1] -> blur with a 41x41 iso/aniso Gaussian kernel -> bilinear down by s -> Gaussian noise sigma/255
(clip) -> JPEG with integer quality -> bilinear up to the HQ size -> LQ-only colour jitter / gray -> round to 8 bit.

Every random choice is drawn up front into `DegradationParams`, from a generator seeded by (seed, epoch, index);
`apply_degradation(hq, params)` is then a pure function. So the same sample comes out whatever the worker count or
order, and every sample can say exactly what made it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from bfrbench.errors import ConfigError

KERNEL_SIZE = 41


@dataclass(frozen=True)
class DegradationRanges:
    """Ranges a preset samples from; every field can be overridden from params.yaml."""

    blur_sigma: tuple[float, float] = (0.1, 10.0)
    aniso_prob: float = 0.5
    theta: tuple[float, float] = (-math.pi, math.pi)
    scale: tuple[float, float] = (0.8, 8.0)
    noise: tuple[float, float] = (0.0, 20.0)
    jpeg: tuple[int, int] = (60, 100)
    color_jitter_prob: float = 0.0
    color_jitter_shift: float = 20.0 / 255.0
    gray_prob: float = 0.0
    kernel_size: int = KERNEL_SIZE
    # A training sample whose LQ is made gray gets a gray HQ target too (DifFace's estimator data, `gt_gray: True`);
    # read by the training dataset only: test sets keep their HQ as it is.
    gt_gray: bool = False

    def validate(self, where: str) -> None:
        for name in ("blur_sigma", "theta", "scale", "noise", "jpeg"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ConfigError(f"{where}.{name}: lower bound {lo} is above upper bound {hi}", fix="swap the bounds")
        if self.blur_sigma[0] <= 0:
            raise ConfigError(f"{where}.blur_sigma must be > 0, got {self.blur_sigma}")
        if self.scale[0] <= 0:
            raise ConfigError(f"{where}.scale must be > 0, got {self.scale}")
        if not (1 <= self.jpeg[0] <= self.jpeg[1] <= 100):
            raise ConfigError(f"{where}.jpeg must lie in [1, 100], got {self.jpeg}")
        if self.noise[0] < 0:
            raise ConfigError(f"{where}.noise must be >= 0, got {self.noise}")
        for name in ("aniso_prob", "color_jitter_prob", "gray_prob"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"{where}.{name} must be a probability in [0, 1], got {p}")
        if self.kernel_size % 2 != 1 or self.kernel_size < 3:
            raise ConfigError(f"{where}.kernel_size must be odd and >= 3, got {self.kernel_size}")


@dataclass(frozen=True)
class DegradationPreset:
    """One or more branches of ranges; a sample picks a branch by `branch_probs`, then draws from it."""

    name: str
    branches: tuple[DegradationRanges, ...]
    branch_probs: tuple[float, ...] = (1.0,)
    source: str = ""


PRESETS: dict[str, DegradationPreset] = {
    "gfpgan": DegradationPreset(
        "gfpgan",
        (DegradationRanges((0.1, 10.0), 0.5, (-math.pi, math.pi), (0.8, 8.0), (0.0, 20.0), (60, 100), 0.3, 20 / 255,
                           0.01),),
        source="GFPGAN v1 train_gfpgan_v1.yml",
    ),
    "codeformer_stage2": DegradationPreset(
        "codeformer_stage2",
        (DegradationRanges((1.0, 15.0), 0.5, (-math.pi, math.pi), (4.0, 30.0), (0.0, 20.0), (30, 80)),),
        source="CodeFormer stage II options",
    ),
    "codeformer_stage3": DegradationPreset(
        "codeformer_stage3",
        (
            DegradationRanges((0.1, 10.0), 0.5, (-math.pi, math.pi), (1.0, 12.0), (0.0, 15.0), (60, 100)),
            DegradationRanges((1.0, 15.0), 0.5, (-math.pi, math.pi), (4.0, 30.0), (0.0, 20.0), (30, 80)),
        ),
        (0.5, 0.5),
        source="CodeFormer stage III options (mild branch + stage-II branch)",
    ),
    "difface": DegradationPreset(
        "difface",
        (DegradationRanges((0.1, 15.0), 0.5, (-math.pi, math.pi), (0.8, 32.0), (0.0, 20.0), (30, 100), 0.0, 20 / 255,
                           0.01, gt_gray=True),),
        source="DifFace estimator training options",
    ),
    "diffbir": DegradationPreset(
        "diffbir",
        (DegradationRanges((0.1, 12.0), 0.5, (-math.pi, math.pi), (1.0, 12.0), (0.0, 15.0), (30, 100)),),
        source="DiffBIR stage-1 options",
    ),
}


@dataclass(frozen=True)
class DegradationParams:
    """Everything that determines one degraded sample."""

    branch: int
    kernel: str  # "iso" or "aniso"
    sigma_x: float
    sigma_y: float
    theta: float
    scale: float
    noise_sigma: float  # on the 0-255 scale
    jpeg_quality: int
    noise_seed: int
    color_shift: tuple[float, float, float] | None = None  # added to R, G, B in [0,1] units
    gray: bool = False
    kernel_size: int = KERNEL_SIZE

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["color_shift"] = list(self.color_shift) if self.color_shift is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DegradationParams:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        if kwargs.get("color_shift") is not None:
            kwargs["color_shift"] = tuple(float(v) for v in kwargs["color_shift"])
        return cls(**kwargs)


STREAM_DEGRADATION, STREAM_FLIP, STREAM_ORDER = 0, 1, 2
STREAM_BRANCH = 16  # + branch: every branch's own draw of a sample (DegradationPipeline.branch_lq)


def sample_rng(seed: int, epoch: int, index: int, stream: int = STREAM_DEGRADATION) -> np.random.Generator:
    """A generator that depends only on (seed, stream, epoch, index): the key to worker-count independence."""
    key = [int(seed), int(stream), int(epoch), int(index)]
    if min(key) < 0:
        raise ValueError(f"seed, stream, epoch and index must be >= 0, got {key}")
    return np.random.default_rng(np.random.SeedSequence(key))


def sample_params(preset: DegradationPreset, rng: np.random.Generator) -> DegradationParams:
    branch = int(rng.choice(len(preset.branches), p=np.asarray(preset.branch_probs) / sum(preset.branch_probs)))
    return sample_branch_params(preset, branch, rng)


def sample_branch_params(preset: DegradationPreset, branch: int, rng: np.random.Generator) -> DegradationParams:
    """The draws of one branch (after the branch choice, in the order test sets were made with)."""
    r = preset.branches[branch]
    aniso = bool(rng.random() < r.aniso_prob)
    sigma_x = float(rng.uniform(*r.blur_sigma))
    if aniso:
        sigma_y = float(rng.uniform(*r.blur_sigma))
        theta = float(rng.uniform(*r.theta))
    else:
        sigma_y, theta = sigma_x, 0.0
    scale = float(rng.uniform(*r.scale))
    noise_sigma = float(rng.uniform(*r.noise))
    jpeg_quality = int(rng.integers(r.jpeg[0], r.jpeg[1] + 1))
    noise_seed = int(rng.integers(0, 2**63 - 1))
    color_shift = None
    if rng.random() < r.color_jitter_prob:
        color_shift = tuple(float(v) for v in rng.uniform(-r.color_jitter_shift, r.color_jitter_shift, size=3))
    gray = bool(rng.random() < r.gray_prob)
    return DegradationParams(
        branch, "aniso" if aniso else "iso", sigma_x, sigma_y, theta, scale, noise_sigma, jpeg_quality, noise_seed,
        color_shift, gray, r.kernel_size,
    )


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """Normalised bivariate Gaussian kernel, covariance R diag(sx^2, sy^2) R^T with R the rotation by theta."""
    half = size // 2
    ax = np.arange(-half, half + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T
    inv = np.linalg.inv(cov)
    grid = np.stack([xx, yy], axis=-1)
    expo = np.einsum("...i,ij,...j->...", grid, inv, grid)
    kernel = np.exp(-0.5 * expo)
    return kernel / kernel.sum()


# The training path's error budget for blur + downsample, in [0, 1] units: the truncation ||K - A||_1 of the kernel's
# factors (bfrbench.data.blur) and the largest proven rounding bound a fused plan may have (blur_resize's default is
# 1e-4). Their sum, 3e-3, is 0.77 of an 8-bit level (1/255 = 3.92e-3): the float image before JPEG is provably within
# one level of the exact path's, the bound the issue holds training data to (benchmarks/README.md). Why this size:
# fewer SVD terms per rotated kernel, and fused plans with more terms allowed, make the two slow presets' blur +
# downsample ~20% cheaper than at 1e-4 / 1e-4 (astronaut face, 64 draws, 2026-12-06: gfpgan 2.7-2.9 -> 3.0-3.1x
# BasicSR, diffbir 3.1-3.3 -> 3.7x); the measured error is ~4e-4, 1/10 of a level.
FAST_TRUNCATION_BUDGET = 2e-3
FAST_ROUNDING_LIMIT = 1e-3


def standard_noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Unit Gaussian float32 noise of the exact path (test sets): numpy's PCG64 ziggurat, portable bit for bit."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def fast_noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Unit Gaussian float32 noise of the training path: torch's CPU generator (mt19937, Box-Muller), ~3x faster than
    numpy's ziggurat at 256 x 256 x 3 (0.53 against 1.71 ms on the 2-core dev box, 2026-12-06), which was the largest
    step after the blur. A different draw from `standard_noise` for the same seed, equally a function of the seed
    alone (workers, ranks and resumes draw the same values). `degradation_torch.gaussian_noise(mode="torch_cpu")`
    draws these values for `data.degrade_on: gpu`."""
    import torch

    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(shape, generator=generator, dtype=torch.float32).numpy()


def apply_degradation(hq: np.ndarray, params: DegradationParams, noise: np.ndarray | None = None,
                      fast_blur: bool = False) -> np.ndarray:
    """Degrade an RGB uint8 HxWx3 face; returns RGB uint8 at the same size.

    By default blur and downsample are `cv2.filter2D` + `cv2.resize`, bit-identical to the peers' code (test sets,
    the DifFace grid). `fast_blur=True` is the training path: blur and downsample as
    `bfrbench.data.blur_resize.blur_resize` with `FAST_TRUNCATION_BUDGET` and `FAST_ROUNDING_LIMIT` (only the rows
    and columns the downsample reads, separable or FFT blurs; within ~4e-4 of the exact path before the 8-bit
    rounding, proven <= 3e-3, i.e. within one 8-bit level, see docs/degradation.md) and the noise from `fast_noise`
    (torch's generator: a different draw than the exact path's for the same seed), ~3x faster than BasicSR's path
    (benchmarks/README.md). A rare 8-bit flip before JPEG can
    change a whole JPEG block, so use it only for training data. Everything after the noise is the same computation
    (`_fast_tail`: the same bytes, fewer passes).

    `noise` (float32, the downsampled image's shape, already scaled to [0,1] units) replaces the noise drawn from
    `params.noise_seed`: generators that must replay another code's random stream (the DifFace grid) pass it in.
    """
    import cv2

    if hq.dtype != np.uint8 or hq.ndim != 3 or hq.shape[2] != 3:
        raise ValueError(f"apply_degradation expects RGB uint8 HxWx3, got {hq.dtype} {hq.shape}")
    h, w = hq.shape[:2]
    kernel = gaussian_kernel(params.kernel_size, params.sigma_x, params.sigma_y, params.theta).astype(np.float32)
    small = (max(1, int(w // params.scale)), max(1, int(h // params.scale)))
    if fast_blur:
        from bfrbench.data.blur_resize import blur_resize

        # takes uint8: converts to float only in the layout its route needs
        img = blur_resize(hq, kernel, small, FAST_TRUNCATION_BUDGET, FAST_ROUNDING_LIMIT)
    else:
        img = np.divide(hq, np.float32(255.0), dtype=np.float32)  # = astype(float32) / 255, bit for bit, 7x faster
        img = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
        img = cv2.resize(img, small, interpolation=cv2.INTER_LINEAR)
    if noise is not None:
        if noise.shape != img.shape:
            raise ValueError(f"noise has shape {noise.shape}, the downsampled image {img.shape}")
        img = np.clip(img + noise.astype(np.float32, copy=False), 0.0, 1.0)
    elif params.noise_sigma > 0:
        # = clip(img + n * (sigma / 255), 0, 1), bit for bit (IEEE addition commutes), without the temporaries
        drawn = fast_noise(params.noise_seed, img.shape) if fast_blur else standard_noise(params.noise_seed, img.shape)
        drawn *= np.float32(params.noise_sigma / 255.0)
        drawn += img
        img = np.clip(drawn, 0.0, 1.0, out=drawn)
    if fast_blur:
        return _fast_tail(img, params, h, w)
    # The peers pass a float quality; OpenCV >= 4.5.4 rejects it, so the quality is an int by construction.
    # = clip(round(img * 255), 0, 255) as uint8 (half to even), bit for bit: img >= -1e-7 here, and |x| < 0.5 -> 0
    u8 = cv2.convertScaleAbs(np.ascontiguousarray(img), alpha=255.0)
    ok, buf = cv2.imencode(".jpg", u8[:, :, ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(params.jpeg_quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    # Upsample in BGR, as the peers do, then swap to RGB: OpenCV's SIMD linear resize is not channel-symmetric in
    # the last bit on every CPU (on an AMD EPYC the same image resized as RGB and as BGR differs by 1 ulp, which
    # rounding turns into 1-level flips against BasicSR), so only the peers' channel order is exact everywhere.
    img = np.divide(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.float32(255.0), dtype=np.float32)
    img = np.ascontiguousarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)[:, :, ::-1])
    if params.color_shift is not None:
        img += np.asarray(params.color_shift, dtype=np.float32)
        np.clip(img, 0.0, 1.0, out=img)
    if params.gray:
        gray = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
        img = np.stack([gray] * 3, axis=-1)
    # = clip(round(img * 255), 0, 255) as uint8 for img >= 0 (round half to even), bit for bit, 6x faster
    return cv2.convertScaleAbs(np.ascontiguousarray(img), alpha=255.0)


def _fast_tail(img: np.ndarray, params: DegradationParams, h: int, w: int) -> np.ndarray:
    """The exact path's tail (8-bit rounding, JPEG, upsample, colour shift, gray, rounding), bit for bit the same
    output for the same input (tests/data/test_blur_resize.py), in fewer and contiguous passes.

    Why a second copy: numpy and OpenCV handle the channel-reversed views and the (3,)-broadcast of the exact tail
    with 3-element inner loops, and the encoder copies a reversed view first: ~3 ms of a 512 px sample. The exact
    path keeps its own code, which is the one the bit-exactness tests against BasicSR pin down.
    """
    import cv2

    u8 = cv2.convertScaleAbs(np.ascontiguousarray(img), alpha=255.0)  # as the exact path (img >= -1e-7)
    bgr = cv2.cvtColor(u8, cv2.COLOR_RGB2BGR)  # a channel swap: the same bytes the encoder gets from u8[..., ::-1]
    ok, buf = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(params.jpeg_quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    # resized in BGR like the exact path (OpenCV's linear resize is not channel-symmetric in the last bit)
    img = np.divide(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.float32(255.0), dtype=np.float32)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    if params.gray:  # the exact path's order: to RGB, colour shift, RGB2GRAY (channel weights in RGB order)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    shift = params.color_shift if params.gray else (None if params.color_shift is None else params.color_shift[::-1])
    if shift is not None:
        # The same float32 additions as img += shift (per channel, in the image's channel order), over rows of
        # w * 3 values instead of 3-value inner loops
        flat = img.reshape(h, w * 3)
        flat += np.tile(np.asarray(shift, dtype=np.float32), w)
        np.clip(img, 0.0, 1.0, out=img)
    if params.gray:
        # GRAY2RGB copies the gray value into all three channels, as np.stack([gray] * 3, axis=-1) does
        return cv2.convertScaleAbs(cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB),
                                   alpha=255.0)
    # Per-value steps (shift, clip, rounding) commute with the channel swap: swap the 8-bit result (a quarter of the
    # bytes of the float image) instead of the float image
    return cv2.cvtColor(cv2.convertScaleAbs(img, alpha=255.0), cv2.COLOR_BGR2RGB)


def _as_range(value: Any, key: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(f"{key} must be a [low, high] pair, got {value!r}")
    return (value[0], value[1])


def preset_from_config(cfg: str | Mapping[str, Any], where: str = "degradation") -> DegradationPreset:
    """Build a preset from a name, or from {preset: name, <range overrides>} (overrides apply to every branch)."""
    if isinstance(cfg, str):
        cfg = {"preset": cfg}
    cfg = dict(cfg)
    name = cfg.pop("preset", None)
    if name not in PRESETS:
        raise ConfigError(f"{where}.preset: unknown preset {name!r}", fix=f"use one of {sorted(PRESETS)}")
    preset = PRESETS[name]
    known = {f.name for f in fields(DegradationRanges)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}", fix=f"valid keys: preset, {', '.join(sorted(known))}")
    overrides: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in ("blur_sigma", "theta", "scale", "noise"):
            lo, hi = _as_range(value, f"{where}.{key}")
            overrides[key] = (float(lo), float(hi))
        elif key == "jpeg":
            lo, hi = _as_range(value, f"{where}.{key}")
            overrides[key] = (int(lo), int(hi))
        elif key == "kernel_size":
            overrides[key] = int(value)
        elif key == "gt_gray":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.gt_gray must be true or false, got {value!r}")
            overrides[key] = value
        else:
            overrides[key] = float(value)
    branches = tuple(replace(b, **overrides) for b in preset.branches)
    for i, b in enumerate(branches):
        b.validate(f"{where}[branch {i}]")
    return DegradationPreset(preset.name, branches, preset.branch_probs, preset.source)


@dataclass
class DegradationPipeline:
    """Sample parameters from a preset with a seed and degrade HQ faces; deterministic per (seed, epoch, index)."""

    preset: DegradationPreset
    seed: int = 0
    fast_blur: bool = False

    @classmethod
    def from_config(cls, cfg: str | Mapping[str, Any], seed: int = 0, fast_blur: bool = False) -> DegradationPipeline:
        return cls(preset_from_config(cfg), seed, fast_blur)

    def params_for(self, index: int, epoch: int = 0) -> DegradationParams:
        return sample_params(self.preset, sample_rng(self.seed, epoch, index))

    def branch_lq(self, hq: np.ndarray, index: int, epoch: int = 0) -> list[np.ndarray]:
        """One LQ per branch, each from its own draw (CodeFormer stage III's `in` and `in_large_de`: the trainer
        chooses per iteration which one a batch uses)."""
        out = []
        for branch in range(len(self.preset.branches)):
            params = sample_branch_params(self.preset, branch, sample_rng(self.seed, epoch, index,
                                                                          STREAM_BRANCH + branch))
            out.append(apply_degradation(hq, params, fast_blur=self.fast_blur))
        return out

    def gray_target(self, params: DegradationParams) -> bool:
        """Whether this sample's HQ target is made gray too (its LQ is gray and its branch has gt_gray)."""
        return params.gray and self.preset.branches[params.branch].gt_gray

    def __call__(self, hq: np.ndarray, index: int, epoch: int = 0) -> tuple[np.ndarray, DegradationParams]:
        params = self.params_for(index, epoch)
        return apply_degradation(hq, params, fast_blur=self.fast_blur), params
