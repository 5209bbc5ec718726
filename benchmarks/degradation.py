"""Per-core throughput of the naive degradation at 512x512: the peers' path (BasicSR 1.4.2's own functions in
GFPGAN's order) against ours (`apply_degradation`): the exact path (filter2D + resize, bit-identical) and the fast
one (`fast_blur=True`: `bfrbench.data.blur_resize`, the blur computed only where the downsample reads); and the
batched torch path (`bfrbench.data.degradation_torch.degrade_batch`, what `data.degrade_on: gpu` runs) on the CPU,
and on CUDA when there is a device.

    .venv/bin/python benchmarks/degradation.py [--images 16] [--presets gfpgan,difface] [--repeat 3] [--batch 8]
                                              [--out FILE]

One thread everywhere (OpenMP/MKL/OpenBLAS set before numpy loads, OpenCV and torch told so), one process.
Every path gets the same sampled `DegradationParams` (our presets, fixed seed) on the same faces. The torch path
degrades batches of `--batch` faces that are already float tensors on the device (as the training hook gets them),
with `data.degrade_on: gpu`'s settings: JPEG through the real codec on the CPU, numpy noise, and the float32 FFT blur
(`data.fast_blur: true`, the default) or the float64 one (`fast_blur: false`). CPU paths are timed in CPU time
(`time.process_time`), the CUDA one in wall time after a synchronize (its host-side JPEG and noise included).

Noise. Timing: each path draws its own, as it would in training: ours from `params.noise_seed` (numpy PCG64),
BasicSR from numpy's legacy global stream (`np.random.randn` inside `add_gaussian_noise`), seeded per image.
Accuracy: BasicSR's own `generate_gaussian_noise` under a seeded legacy stream gives one float32 array; the reference
then re-draws exactly that array inside `add_gaussian_noise` (same seed), and ours gets it as `noise=` (channels
flipped, since the reference works in BGR). So every difference reported below comes from the pipelines themselves.

BasicSR's `basicsr/data/degradations.py` is fetched at run time from its PyPI sdist (sha256-checked, cached) by
`bfrbench.reference.basicsr_sdist`, never committed; its package `__init__` is not imported.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy (and BLAS) load: per-core numbers

import argparse
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bfrbench.data import degradation
from bfrbench.data.blur_resize import blur_resize, plan_blur_resize
from bfrbench.data.degradation import (
    PRESETS,
    DegradationParams,
    DegradationPipeline,
    gaussian_kernel,
)

cv2.setNumThreads(1)
SIZE = 512
REPO = Path(__file__).resolve().parents[1]
FACES_DIR = REPO / "artifacts" / "faces" / "hq"


def load_reference():
    """BasicSR 1.4.2's degradations module; says what its loader had to change to import it at all."""
    from bfrbench.reference.basicsr_sdist import load_degradations

    module = load_degradations()
    # The module imports torch at the top: hold it to one thread too.
    import torch

    torch.set_num_threads(1)
    print("BasicSR 1.4.2 degradations.py loaded from the PyPI sdist. Its top-level import of "
          "torchvision.transforms.functional_tensor fails on this torchvision (removed in 0.17); the loader rewrites "
          "that one line to torchvision.transforms.functional (used only by a torch helper we do not call).")
    return module


def faces(count: int) -> list[np.ndarray]:
    """RGB uint8 512x512 faces: the astronaut's face (scikit-image), then the aligned 128 px faces upscaled."""
    from skimage import data

    out = [cv2.resize(data.astronaut()[20:220, 130:330], (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)]
    for path in sorted(FACES_DIR.glob("*.png"))[: max(0, count - 1)]:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        out.append(cv2.resize(bgr, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)[:, :, ::-1].copy())
    return out


def basicsr_degrade(bsr, hq_bgr: np.ndarray, p: DegradationParams) -> np.ndarray:
    """GFPGAN v1's LQ branch (ffhq_degradation_dataset.py), call for call with BasicSR's functions; BGR in/out."""
    img = hq_bgr.astype(np.float32) / 255.0
    h, w = img.shape[:2]
    kernel = bsr.bivariate_Gaussian(p.kernel_size, p.sigma_x, p.sigma_y, p.theta, isotropic=p.kernel == "iso")
    img = cv2.filter2D(img, -1, kernel)
    img = cv2.resize(img, (int(w // p.scale), int(h // p.scale)), interpolation=cv2.INTER_LINEAR)
    img = bsr.add_gaussian_noise(img, sigma=p.noise_sigma, clip=True, rounds=False)
    img = bsr.add_jpg_compression(img, quality=int(p.jpeg_quality))  # int: OpenCV >= 4.5.4 rejects GFPGAN's float
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    if p.color_shift is not None:  # GFPGAN's color_jitter with our sampled shift (RGB -> BGR)
        img = np.clip(img + np.asarray(p.color_shift[::-1], dtype=np.float32), 0, 1)
    if p.gray:  # GFPGAN: BGR2GRAY, then tile to 3 channels
        img = np.tile(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None], [1, 1, 3])
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)  # GFPGAN rounds in torch: also half to even


def legacy_seed(p: DegradationParams) -> int:
    return p.noise_seed % 2**32


def _filter2d_blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(img, -1, np.asarray(kernel, np.float32), borderType=cv2.BORDER_REFLECT_101)


@contextlib.contextmanager
def capture_jpeg_inputs(into: list):
    """Record the 8-bit image each cv2.imencode call compresses (float input converted as OpenCV does)."""
    original = cv2.imencode

    def recording(ext, img, *args, **kwargs):
        arr = np.asarray(img)
        into.append(arr.copy() if arr.dtype == np.uint8 else np.clip(np.rint(arr), 0, 255).astype(np.uint8))
        return original(ext, img, *args, **kwargs)

    cv2.imencode = recording
    try:
        yield
    finally:
        cv2.imencode = original


@contextlib.contextmanager
def capture_rounding_inputs(bsr, into: list):
    """Record the float image each path rounds to 8 bit for the JPEG encoder: BasicSR's add_jpg_compression input,
    and the first cv2.convertScaleAbs input of each apply_degradation call (its pre-JPEG rounding)."""
    original_jpg, original_abs = bsr.add_jpg_compression, cv2.convertScaleAbs
    state = {"first": True}

    def jpg(img, *args, **kwargs):
        into.append(np.asarray(img, np.float32).copy())
        return original_jpg(img, *args, **kwargs)

    def scale_abs(src, *args, **kwargs):
        if state["first"]:
            into.append(np.asarray(src, np.float32)[:, :, ::-1].copy())  # ours is RGB; the reference BGR
        state["first"] = not state["first"]  # apply_degradation calls it twice: pre-JPEG, then the final rounding
        return original_abs(src, *args, **kwargs)

    bsr.add_jpg_compression, cv2.convertScaleAbs = jpg, scale_abs
    try:
        yield
    finally:
        bsr.add_jpg_compression, cv2.convertScaleAbs = original_jpg, original_abs


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def torch_batches(hqs: list[np.ndarray], params: list[DegradationParams], batch: int, device: str) -> list:
    """(HQ tensor on `device`, its params) per batch of `batch` samples, faces cycled as the per-sample paths do."""
    import torch

    out = []
    for start in range(0, len(params), batch):
        chunk = params[start:start + batch]
        faces_ = [hqs[(start + i) % len(hqs)] for i in range(len(chunk))]
        hq = torch.from_numpy(np.stack(faces_).transpose(0, 3, 1, 2).copy()).float().div_(255.0).to(device)
        out.append((hq, chunk))
    return out


@dataclass
class Diff:
    """Differences of one path against the reference over a preset's set, in 8-bit levels."""

    pre_jpeg_float_max: float = 0.0  # in [0, 1] units, before the 8-bit rounding
    pre_jpeg_max: int = 0
    pre_jpeg_values: int = 0
    pre_jpeg_flips: int = 0
    end_max: int = 0
    end_pixels: int = 0
    end_differing: int = 0
    end_values: int = 0
    end_over_one: int = 0  # output values more than one 8-bit level off

    def add(self, pre_ref: np.ndarray, pre: np.ndarray, end_ref: np.ndarray, end: np.ndarray,
            float_ref: np.ndarray, float_ours: np.ndarray) -> None:
        diff = np.abs(float_ref.astype(np.float64) - float_ours)
        self.pre_jpeg_float_max = max(self.pre_jpeg_float_max, float(diff.max()))
        pre_d = np.abs(pre_ref.astype(np.int16) - pre)
        end_d = np.abs(end_ref.astype(np.int16) - end)
        self.pre_jpeg_max = max(self.pre_jpeg_max, int(pre_d.max()))
        self.pre_jpeg_values += pre_d.size
        self.pre_jpeg_flips += int((pre_d > 0).sum())
        self.end_max = max(self.end_max, int(end_d.max()))
        self.end_pixels += end_d.shape[0] * end_d.shape[1]
        self.end_differing += int((end_d > 0).any(axis=2).sum())
        self.end_values += end_d.size
        self.end_over_one += int((end_d > 1).sum())


@dataclass
class PresetResult:
    preset: str
    images: int
    seconds: dict = field(default_factory=dict)  # path -> best total seconds over the repeats
    routes: dict = field(default_factory=dict)  # blur_resize route -> count
    exact: Diff = field(default_factory=Diff)
    fast: Diff = field(default_factory=Diff)

    def per_second(self, path: str) -> float:
        return self.images / self.seconds[path]

    def ms(self, path: str) -> float:
        return 1e3 * self.seconds[path] / self.images


def time_paths(bsr, hqs: list[np.ndarray], params: list[DegradationParams], repeat: int, batch: int = 8) -> dict:
    """Best-of-`repeat` seconds for the whole set, per path; paths interleave within a repeat to share the load."""
    import torch

    from bfrbench.data.datamodule import torch_noise
    from bfrbench.data.degradation_torch import degrade_batch

    hq_bgr = [np.ascontiguousarray(h[:, :, ::-1]) for h in hqs]
    images = [i % len(hqs) for i in range(len(params))]
    kernels = [gaussian_kernel(p.kernel_size, p.sigma_x, p.sigma_y, p.theta).astype(np.float32) for p in params]
    floats = [h.astype(np.float32) / 255.0 for h in hqs]

    def reference():
        for i, p in zip(images, params):
            np.random.seed(legacy_seed(p))
            basicsr_degrade(bsr, hq_bgr[i], p)

    def ours(fast: bool):
        for i, p in zip(images, params):
            degradation.apply_degradation(hqs[i], p, fast_blur=fast)

    def blur_down(fast: bool):
        for i, k, p in zip(images, kernels, params):
            h, w = floats[i].shape[:2]
            small = (max(1, int(w // p.scale)), max(1, int(h // p.scale)))
            if fast:
                blur_resize(floats[i], k, small, degradation.FAST_TRUNCATION_BUDGET,
                            degradation.FAST_ROUNDING_LIMIT)  # as the fast path
            else:
                cv2.resize(_filter2d_blur(floats[i], k), small, interpolation=cv2.INTER_LINEAR)

    def batched(batches: list, blur: str, sync: bool = False):
        for hq, chunk in batches:  # data.degrade_on: gpu's settings (bfrbench.data.datamodule.degrade_deferred)
            degrade_batch(hq, chunk, jpeg="cpu", noise=torch_noise(blur), blur=blur)
        if sync:
            torch.cuda.synchronize()

    cpu_batches = torch_batches(hqs, params, batch, "cpu")
    paths = {"reference": reference, "exact": lambda: ours(False), "fast": lambda: ours(True),
             "blur+down exact": lambda: blur_down(False), "blur+down fast": lambda: blur_down(True),
             "torch fft32": lambda: batched(cpu_batches, "fft32"), "torch fft64": lambda: batched(cpu_batches, "fft64")}
    clocks = {name: time.process_time for name in paths}
    if cuda_available():
        cuda_batches = torch_batches(hqs, params, batch, "cuda")
        paths["cuda fft32"] = lambda: batched(cuda_batches, "fft32", sync=True)
        clocks["cuda fft32"] = time.perf_counter  # the device's time is not this process's CPU time
    for run in paths.values():  # warm-up: first-call costs (lazy imports, allocator growth, FFT plans) are not
        run()  # throughput
    best = {name: float("inf") for name in paths}
    for _ in range(repeat):
        for name, run in paths.items():
            start = clocks[name]()
            run()
            best[name] = min(best[name], clocks[name]() - start)
    return best


def compare_outputs(bsr, hqs: list[np.ndarray], params: list[DegradationParams], result: PresetResult) -> None:
    """Reference vs ours, exact and fast, on identical noise arrays (see the module docstring)."""
    for n, p in enumerate(params):
        hq = hqs[n % len(hqs)]
        h, w = hq.shape[:2]
        small = (max(1, int(h // p.scale)), max(1, int(w // p.scale)), 3)
        np.random.seed(legacy_seed(p))
        noise_bgr = bsr.generate_gaussian_noise(np.empty(small, np.float32), p.noise_sigma)
        noise_rgb = np.ascontiguousarray(noise_bgr[:, :, ::-1])
        pre: list = []
        floats: list = []
        with capture_jpeg_inputs(pre), capture_rounding_inputs(bsr, floats):
            np.random.seed(legacy_seed(p))  # add_gaussian_noise re-draws exactly noise_bgr
            ref = basicsr_degrade(bsr, np.ascontiguousarray(hq[:, :, ::-1]), p)[:, :, ::-1]
            exact = degradation.apply_degradation(hq, p, noise=noise_rgb)
            fast = degradation.apply_degradation(hq, p, noise=noise_rgb, fast_blur=True)
        pre_ref, pre_exact, pre_fast = pre  # all three hand BGR 8-bit arrays to the encoder
        float_ref, float_exact, float_fast = floats  # and the float images they rounded, BGR
        result.exact.add(pre_ref, pre_exact, ref, exact, float_ref, float_exact)
        result.fast.add(pre_ref, pre_fast, ref, fast, float_ref, float_fast)
        kernel = gaussian_kernel(p.kernel_size, p.sigma_x, p.sigma_y, p.theta).astype(np.float32)
        plan = plan_blur_resize(kernel, (h, w), (small[1], small[0]), degradation.FAST_TRUNCATION_BUDGET,
                                degradation.FAST_ROUNDING_LIMIT)
        route = "fused" if plan.method == "fused" else plan.blur_plan.method
        result.routes[route] = result.routes.get(route, 0) + 1


def run_preset(bsr, name: str, hqs: list[np.ndarray], count: int, repeat: int, seed: int,
               batch: int = 8) -> PresetResult:
    pipe = DegradationPipeline(PRESETS[name], seed)
    params = [pipe.params_for(i) for i in range(count)]
    result = PresetResult(name, count)
    result.seconds = time_paths(bsr, hqs, params, repeat, batch)
    compare_outputs(bsr, hqs, params, result)
    return result


def throughput_rows(results: list[PresetResult]) -> tuple[list[str], list[list[str]]]:
    head = ["preset", "ref img/s", "exact img/s", "fast img/s", "torch fft32 img/s", "torch fft64 img/s",
            "cuda fft32 img/s", "exact/ref", "fast/ref", "blur+down exact ms", "blur+down fast ms", "rest ms",
            "fast routes"]
    rows = []
    for r in results:
        rest = r.ms("fast") - r.ms("blur+down fast")  # our pipeline minus its blur and downsample
        routes = " ".join(f"{k}:{v}" for k, v in sorted(r.routes.items()))
        cuda = f"{r.per_second('cuda fft32'):.1f}" if "cuda fft32" in r.seconds else "-"
        rows.append([r.preset, f"{r.per_second('reference'):.1f}", f"{r.per_second('exact'):.1f}",
                     f"{r.per_second('fast'):.1f}", f"{r.per_second('torch fft32'):.1f}",
                     f"{r.per_second('torch fft64'):.1f}", cuda, f"{r.seconds['reference'] / r.seconds['exact']:.2f}x",
                     f"{r.seconds['reference'] / r.seconds['fast']:.2f}x", f"{r.ms('blur+down exact'):.1f}",
                     f"{r.ms('blur+down fast'):.1f}", f"{rest:.1f}", routes])
    return head, rows


def accuracy_rows(results: list[PresetResult]) -> tuple[list[str], list[list[str]]]:
    head = ["preset", "path", "pre-JPEG float max", "pre-JPEG 8-bit max", "pre-JPEG flips", "end max",
            "end px differ", "end values > 1 level"]
    rows = []
    for r in results:
        for name, d in (("exact", r.exact), ("fast", r.fast)):
            rows.append([r.preset, name, f"{d.pre_jpeg_float_max:.1e}", str(d.pre_jpeg_max),
                         f"{d.pre_jpeg_flips}/{d.pre_jpeg_values}", str(d.end_max),
                         f"{d.end_differing / d.end_pixels:.2e}", f"{d.end_over_one / d.end_values:.2e}"])
    return head, rows


def print_table(title: str, head: list[str], rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(f"\n{title}")
        widths = [max(len(c) for c in col) for col in zip(head, *rows)]
        for line in [head, ["-" * w for w in widths], *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths)))
        return
    table = Table(title=title)
    for h in head:
        table.add_column(h, justify="left" if h in ("preset", "path", "fast routes") else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=260).print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=16, help="degraded samples per preset (faces are cycled)")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats; the best is kept")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled degradation parameters")
    parser.add_argument("--batch", type=int, default=8, help="faces per batch of the torch path")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(PRESETS))
    if unknown or args.images < 1 or args.repeat < 1 or args.batch < 1:
        parser.error(f"unknown presets {unknown}" if unknown else "--images, --repeat and --batch must be >= 1")

    bsr = load_reference()
    hqs = faces(args.images)
    print(f"{len(hqs)} distinct faces at {SIZE}x{SIZE} (astronaut + {len(hqs) - 1} from {FACES_DIR}), "
          f"{args.images} samples per preset, best of {args.repeat}, 1 thread, OpenCV {cv2.__version__}, "
          f"numpy {np.__version__}; torch path in batches of {args.batch}, CUDA "
          f"{'yes' if cuda_available() else 'no (no device)'}")
    results = [run_preset(bsr, name, hqs, args.images, args.repeat, args.seed, args.batch) for name in names]

    print_table("Throughput per core (img/s; torch = degrade_batch in batches, as data.degrade_on: gpu runs it, on the "
                "CPU, and cuda on a CUDA device (wall time); x/ref = reference time / ours; blur+down = the blur and "
                "the bilinear downsample alone; rest = fast path minus that)", *throughput_rows(results))
    print_table("Against the BasicSR reference, identical parameters and noise (float in [0,1] units, else 8-bit "
                "levels; px differ = share of pixels with any channel off)", *accuracy_rows(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"args": {k: str(v) for k, v in vars(args).items()},
                   "results": [{"preset": r.preset, "images": r.images, "seconds": r.seconds, "routes": r.routes,
                                "exact": vars(r.exact), "fast": vars(r.fast)} for r in results]}
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"Results written to {args.out}")
    else:
        print("No file written (pass --out FILE for JSON).")


if __name__ == "__main__":
    main()
