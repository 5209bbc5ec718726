"""The degradation's first two steps fused: `cv2.resize(cv2.filter2D(img, -1, k32, BORDER_REFLECT_101), dsize,
interpolation=INTER_LINEAR)`, computed only where the resize looks.

Why: a bilinear downscale by s reads two rows and two columns per output pixel, so for s >= 2 most of the blurred
image is thrown away, yet `cv2.filter2D` computes all of it (a ~16 ms DFT at 512 px for the rotated anisotropic
kernels that have no cheap separable form). Below 2x every row is read, but the fused route still reduces each row
to dw columns before the second pass: the cost model decides (it pays for large separable blurs, e.g. sigma 9.6 at
s = 1.94: 5.7 ms fused against 9 ms for two 41-tap passes and the resize).

How: both steps are linear, and each is separable per term. Split the kernel into outer products a_t b_t^T (an SVD
within the same l1 budget as `bfrbench.data.blur`, factors cropped the same way, via its `_separable_plan`). Term t
maps the image X (one plane, h x w) to M_y,t X M_x,t^T, where M_y,t = R_y B_y,t: the resize's bilinear rows (OpenCV's
taps) times the reflect-101 correlation with a_t, a banded dh x h matrix with ~len(a_t)+1 entries per row. The
result is sum_t M_y,t X M_x,t^T, computed as two banded matrix products with BLAS (float32 sgemm), each split into
bands of output columns / rows so that the work stays close to the band's: first along x for every row and all
terms at once (output columns band by band), then along y, contracting over (row, term) together, one batched
call per band of output rows for all planes and all full column bands. Band widths: `_run_band` (measured).
"separate" plans whose blur is an "fft" plan resize straight from the FFT's planes (`_fft_resize`).

Cost: pass 1 ~ 3h * dw * R * (b_x s + L) multiply-adds, pass 2 ~ 3 dh * dw * R * (b_y s + L); `plan_blur_resize`
takes the fused route only when its cost model says it beats `blur` + `cv2.resize`.

Accuracy, for inputs in [0, 1]. Truncation: ||K - A||_1 <= `blur.TRUNCATION_BUDGET` (exact, as in `blur`); the
resize's rows are convex combinations, so this carries over. Rounding: every output is two float32 dot products
whose non-zero terms number n1 = len(b)+1 (pass 1) and n2 = R (len(a)+1) (pass 2); zero terms add exactly, whatever
order BLAS sums in. So |error| <= (n1 + n2 + 2) u sum_t ||a_t||_1 ||b_t||_1 (u = 2^-24): `FusedPlan.rounding_bound`,
a worst case (measured errors are ~100x smaller, see docs/degradation.md); plans above `ROUNDING_LIMIT` are not used.
tests/data/test_blur_resize.py checks every route against cv2.resize(cv2.filter2D(...)) within its bound.
The resize weights themselves are OpenCV's (float64 positions, float32 fractions, clamped borders), but OpenCV
rounds the blurred image to float32 before resizing and evaluates the 2-tap sum in its own order: a few ulp more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bfrbench.data.blur import (
    TRUNCATION_BUDGET,
    BlurPlan,
    _separable_plan,
    blur,
    fft_correlate_planes,
    plan_blur_candidates,
    workspace,
)

ROUNDING_LIMIT = 1e-4  # default max proven rounding bound of a fused plan (inputs in [0, 1])
_UNIT_ROUNDOFF = 2.0**-24
# Cost model in ms at one thread (measured on the 2-core dev box, 2026-11-23): sgemm multiply-adds, a fixed cost
# per matmul call, and `blur`'s tap units (see blur.py) scaled by the image area. 2026-11-29: with the faster band
# building and batched pass 2, fused calls took 0.63-0.85x of this model at 60 GMAC/s for R = 4-27 (the FFT route
# and filter2D 0.85-1.3x of theirs), so the rate is now 80: rotated kernels with 16-27 terms at s >= 5 go fused
# (measured 5.4-7.8 ms against the FFT route's 7-9 ms).
_GMAC_PER_S = 80.0
_READ = 22.0  # a value read costs about as much as this many multiply-adds (sgemm on thin matrices)
_MS_PER_CALL = 0.005
_MS_PER_TERM = 0.05  # building the two banded matrices of one term
_MS_PER_BLUR_UNIT = 0.055 / (512 * 512)  # per tap pass, per pixel of a 3-channel image
_MS_RESIZE_PER_PIXEL = 0.25 / (512 * 512)
_MS_PLANAR_PER_PIXEL = 0.45 / (512 * 512)  # the fused route's transposes into and out of planar layout


def linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cv2.resize INTER_LINEAR's taps along one axis: (index0, index1, weight1), weight1 float32.

    Source position (d + 0.5) * (n_in / n_out) - 0.5 in float64, its fraction rounded to float32 (what cv2.resize
    returns for float32 images, see bfrbench.data.degradation_torch._linear_taps); outside the image the edge sample.
    """
    scale = 1.0 / (n_out / n_in)
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5
    first = np.floor(pos).astype(np.int64)
    frac = (pos - first).astype(np.float32)
    low, high = first < 0, first >= n_in - 1
    first[low], frac[low] = 0, 0
    first[high], frac[high] = n_in - 1, 0
    return first, np.minimum(first + 1, n_in - 1), frac


def reflect101(index: np.ndarray, n: int) -> np.ndarray:
    """OpenCV's BORDER_REFLECT_101 (borderInterpolate), for any index, repeated reflections included."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    index = np.abs(index) % period
    return np.where(index >= n, period - index, index)


def _taps_and_indices(taps: np.ndarray, anchor: int, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Entries of the (R, n_out, n_in) matrices M_t = R B_t (resize rows times reflect-101 correlation with taps[t]):
    source index (n_out, L + 1) and weight (R, L + 1, n_out) (output rows last: the long axis, so that the numpy
    passes over it run long inner loops); repeated indices (reflected borders) add up.

    The resize's second row i1 is i0 + 1, or i0 itself with weight 0 at a clamped edge (`linear_taps`), so output
    row d is one run of L + 1 taps from i0 - anchor: (1 - w) [taps, 0] + w [0, taps]. Half the entries that two
    separate runs would scatter (building the bands is a visible share of a fused call).
    """
    i0, _, w1 = linear_taps(n_in, n_out)
    w1 = w1.astype(np.float64)
    n_terms, length = taps.shape
    zero = np.zeros((n_terms, 1))
    runs = np.stack([np.concatenate([taps, zero], axis=1), np.concatenate([zero, taps], axis=1)], axis=-1)
    # One (R (L + 1), 2) @ (2, n_out) product instead of broadcasting over 42-long inner loops (0.6 ms for R = 27).
    weight = (runs.reshape(-1, 2) @ np.stack([1.0 - w1, w1])).reshape(n_terms, length + 1, n_out)
    index = reflect101(i0[:, None] + (np.arange(length + 1) - anchor), n_in)
    return index, weight


def resize_blur_matrices(taps: np.ndarray, anchor: int, n_in: int, n_out: int) -> np.ndarray:
    """(R, n_out, n_in) float64: row d of term t = the resize's row d times the reflect-101 correlation with taps[t].

    taps: (R, L) factors, anchored at `anchor` like filter2D's kernel. (Dense: for tests and small sizes.)
    """
    index, weight = _taps_and_indices(taps, anchor, n_in, n_out)
    n_terms = len(taps)
    flat = (np.arange(n_out)[:, None] * n_in + index).ravel()
    out = [np.bincount(flat, weight[t].T.ravel(), minlength=n_out * n_in) for t in range(n_terms)]
    return np.array(out).reshape(n_terms, n_out, n_in)


@dataclass(frozen=True)
class _Bands:
    """A banded matrix set M_t (t < R) cut into bands of output rows, each stored densely over its input span.

    band i covers output rows [start[i], stop[i]) and input rows [low[i], high[i]); `blocks[i]` is laid out so that
    the two passes are plain (batched) matmuls: see `_banded`.
    """

    start: np.ndarray
    stop: np.ndarray
    low: np.ndarray
    high: np.ndarray
    blocks: list


def _banded(taps: np.ndarray, anchor: int, n_in: int, n_out: int, band: int, layout: str) -> _Bands:
    """Bands of M_t = R B_t. layout "in_t_out": block[(i - low), t, (d - start)] (pass 1, columns (t, j));
    "out_in_t": block[(d - start), (i - low), t] (pass 2, contraction over (y, t))."""
    index, weight = _taps_and_indices(taps, anchor, n_in, n_out)
    n_terms = len(taps)
    start = np.arange(0, n_out, band)
    stop = np.minimum(start + band, n_out)
    low = np.minimum.reduceat(index.min(axis=1), start)
    high = np.maximum.reduceat(index.max(axis=1), start) + 1
    span, size = high - low, stop - start
    offset = np.concatenate([[0], np.cumsum(span * size * n_terms)])
    which = np.arange(n_out) // band  # band of each output row
    d = (np.arange(n_out) - start[which])[:, None]  # row inside its band
    i = index - low[which][:, None]  # input inside its band's span
    k, m = span[which][:, None], size[which][:, None]
    t = np.arange(n_terms)[:, None, None]
    # Position of entry (d, i, t) in `values`, laid out (t, i, d) like `weight`: the (d, i) part on the small
    # (n_out, L + 1) grid, t added once.
    if layout == "in_t_out":  # (i * R + t) * m + d
        flat = (offset[which][:, None] + i * (n_terms * m) + d).T[None] + m.T[None] * t
    else:  # (d * k + i) * R + t
        flat = (offset[which][:, None] + (d * k + i) * n_terms).T[None] + t
    values = _scatter_add(flat, weight, index[:, -1] - index[:, 0] == taps.shape[1], int(offset[-1]))
    blocks = []
    for b in range(len(start)):
        chunk = values[offset[b]:offset[b + 1]]
        blocks.append(chunk.reshape(span[b], n_terms * size[b]) if layout == "in_t_out"
                      else chunk.reshape(size[b], span[b] * n_terms))
    return _Bands(start, stop, low, high, blocks)


def _scatter_add(flat: np.ndarray, weight: np.ndarray, clean: np.ndarray, total: int) -> np.ndarray:
    """= np.bincount(flat.ravel(), weight.ravel(), minlength=total).astype(float32), bit for bit, ~2x faster.

    flat, weight: (R, L + 1, n_out); clean: (n_out,), the output rows whose L + 1 source indices are one run without
    a reflected border (their positions are distinct, and no other row shares them). bincount sums each position's
    entries from 0.0 in input order: a clean entry is 0.0 + w (a store; + 0.0 turns -0.0 into 0.0 as that sum
    does), and the rows at the borders are added in the same order by np.add.at.
    """
    values = np.zeros(total)
    if clean.all():
        values[flat] = weight + 0.0
    else:
        values[flat[:, :, clean]] = weight[:, :, clean] + 0.0
        np.add.at(values, flat[:, :, ~clean], weight[:, :, ~clean])
    return values.astype(np.float32)


_BAND_SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def _best_band(n_out: int, n_in: int, length: int, other: float, width: float, calls_per_band: float
               ) -> tuple[int, float]:
    """Output rows per matmul that the cost model likes best, and the model ms of that pass.

    A band of b output rows reads an input span of min(n_in, b * scale + taps) rows of `other` values each and does
    `width(b)` multiply-adds per value read; sgemm is memory-bound when that width is small, hence (width + _READ).
    """
    scale = n_in / n_out
    best = (n_out, float("inf"))
    for band in [b for b in _BAND_SIZES if b < n_out] + [n_out]:
        bands = -(-n_out // band)
        span = min(n_in, band * scale + length + 1)
        cost = bands * (span * other * (width * band + _READ) * 1e-6 / _GMAC_PER_S + calls_per_band * _MS_PER_CALL)
        if cost < best[1]:
            best = (band, cost)
    return best


@dataclass(frozen=True)
class FusedPlan:
    """How `blur_resize` runs: "separate" (`blur`, then cv2.resize) or "fused" (two banded matmuls)."""

    method: str
    blur_plan: BlurPlan  # "separate": what `blur` runs; "fused": the separable factors (rows along y, cols along x)
    rounding_bound: float  # proven bound on our float32 rounding, inputs in [0, 1] ("separate": `blur`'s)
    cost_ms: float  # model estimate at one thread
    band_x: int = 0  # "fused": output columns per pass-1 matmul
    band_y: int = 0  # "fused": output rows per pass-2 matmul

    @property
    def error_bound(self) -> float:
        return self.blur_plan.truncation_error + self.rounding_bound


def _run_band(n_terms: int, n_out: int, floor: int) -> int:
    """Output rows (columns) per matmul that `_fused` runs with: the largest band size <= 96 / R, within
    [floor, 32] (floor 4 for pass 1's x bands, 8 for pass 2's y bands: one matmul call per (x band, y band)).

    The cost model's own pick (`_best_band`) is not used: it assumes one sgemm rate, but thin matmuls run far below
    it, so it chose 2-6 wide bands for R >= 9 terms that ran 1.2-2x slower than the best. Measured best (512 px,
    scales 1.5-12, R = 1-27, one thread, 2026-11-29): x 16-32 for R = 1, 8-16 for R = 9, 4-8 for R = 22-27; y 8-16.
    """
    target = min(32, max(floor, 96 // n_terms))
    return min(n_out, max(b for b in _BAND_SIZES if b <= target))


def _fused_bands(h: int, w: int, dh: int, dw: int, rows: np.ndarray, cols: np.ndarray) -> tuple[int, int, float]:
    """(band_x, band_y, model ms) of the fused route on a 3-channel image: the bands it runs with, and the model's
    estimate at its own best bands (measured 0.75-1x of the time the run bands take)."""
    n_terms = len(rows)
    # Pass 1: per x band, (3h, span) @ (span, R b): reads 3h values per input column, R b multiply-adds each.
    band_x, cost1 = _best_band(dw, w, cols.shape[1], 3 * h, n_terms, 1.0)
    x_bands = -(-dw // band_x)
    # Pass 2: per (x band, y band), (b_y, span R) @ (3, span R, b_x): reads 3 b_x values per (y, t), b_y MACs each.
    _, cost2 = _best_band(dh, h, rows.shape[1], 3 * min(band_x, dw) * n_terms * x_bands, 1.0, x_bands)
    cost = cost1 + cost2 + _MS_PLANAR_PER_PIXEL * h * w + n_terms * _MS_PER_TERM
    return _run_band(n_terms, dw, 4), _run_band(n_terms, dh, 8), cost


def plan_blur_resize(kernel: np.ndarray, shape: tuple[int, int], dsize: tuple[int, int],
                     budget: float = TRUNCATION_BUDGET, rounding_limit: float = ROUNDING_LIMIT) -> FusedPlan:
    """The cheaper of `blur` + resize and the fused route for an image of `shape` (h, w) resized to dsize (w, h).

    The fused route is a candidate only when its proven rounding bound is at most `rounding_limit`."""
    h, w = shape
    dw, dh = dsize
    separate, candidate = plan_blur_candidates(kernel, budget)
    resize_ms = 0.0 if (dh, dw) == (h, w) else _MS_RESIZE_PER_PIXEL * h * w
    best = FusedPlan("separate", separate, separate.rounding_bound, separate.cost * _MS_PER_BLUR_UNIT * h * w
                     + resize_ms)
    k = np.asarray(kernel, dtype=np.float32).astype(np.float64)
    if k.ndim != 2 or dh > h or dw > w:  # an upsample reads every row and column: nothing to skip
        return best
    # plan_blur's own separable candidate, when it has one, is what this call would compute again (the fewest terms
    # within the same budget, the same crop): asking again with more allowed terms only matters when it found none.
    if candidate is not None and candidate.n_terms <= min(k.shape):
        factors = candidate
    else:
        factors = _separable_plan(k, budget, (k.shape[1] // 2, k.shape[0] // 2), max_terms=min(k.shape))
    if factors is None:
        return best
    rows, cols = np.array(factors.rows), np.array(factors.cols)
    norms = float((np.abs(rows).sum(axis=1, dtype=np.float64) * np.abs(cols).sum(axis=1, dtype=np.float64)).sum())
    n1, n2 = cols.shape[1] + 1, len(rows) * (rows.shape[1] + 1)
    rounding = (n1 + n2 + 2) * _UNIT_ROUNDOFF * norms
    band_x, band_y, cost = _fused_bands(h, w, dh, dw, rows, cols)
    if rounding <= rounding_limit and cost < best.cost_ms:
        return FusedPlan("fused", factors, rounding, cost, band_x, band_y)
    return best


def _fused(planes: np.ndarray, plan: FusedPlan, dh: int, dw: int) -> np.ndarray:
    """planes: (C, h, w) float32 -> (C, dh, dw) float32, sum_t M_y,t X M_x,t^T per plane."""
    n_planes, h, w = planes.shape
    factors = plan.blur_plan
    rows = np.array(factors.rows, dtype=np.float64)
    cols = np.array(factors.cols, dtype=np.float64)
    n_terms = len(rows)
    x_bands = _banded(cols, factors.anchor[0], w, dw, plan.band_x, "in_t_out")
    y_bands = _banded(rows, factors.anchor[1], h, dh, plan.band_y, "out_in_t")
    flat = planes.reshape(n_planes * h, w)
    out = np.empty((n_planes, dh, dw), dtype=np.float32)
    band = plan.band_x
    full = dw // band  # x bands of the full width; a narrower last one runs on its own
    # Pass 1, along x for every row of every plane, band by band: (C h, span) @ (span, (t, j)), each into its slot
    # of one buffer, so that pass 2 can take all full bands in one batched call per y band (one call per
    # (x band, y band) pair cost ~7 us each: ~300 calls for R = 27 at s = 7).
    stacked = workspace("fused_stacked", (full, n_planes * h, n_terms * band), np.float32)
    for bx in range(full):
        np.matmul(flat[:, x_bands.low[bx]:x_bands.high[bx]], x_bands.blocks[bx], out=stacked[bx])
    stacked = stacked.reshape(full, n_planes, h * n_terms, band)  # rows (y, t), columns j
    tail = None
    if full < len(x_bands.start):
        lo, hi = x_bands.low[full], x_bands.high[full]
        tail = (flat[:, lo:hi] @ x_bands.blocks[full]).reshape(n_planes, h * n_terms, dw - full * band)
    for by in range(len(y_bands.start)):
        # Pass 2, along y, contracting (y, t) at once: all planes and full x bands in one batched call
        y0, y1 = y_bands.start[by], y_bands.stop[by]
        ylo, yhi = y_bands.low[by] * n_terms, y_bands.high[by] * n_terms
        block = y_bands.blocks[by]
        if full:
            part = block @ stacked[:, :, ylo:yhi]  # (x band, plane, y, j)
            out[:, y0:y1, :full * band] = part.transpose(1, 2, 0, 3).reshape(n_planes, y1 - y0, full * band)
        if tail is not None:
            out[:, y0:y1, full * band:] = block @ tail[:, ylo:yhi]
    return out


def _planar(img: np.ndarray) -> np.ndarray:
    """(C, h, w) float32 of an HxWxC image, uint8 ones divided by 255 on the way (= astype(float32) / 255).

    A per-thread buffer (a fresh 3 MB array costs page faults each call). cv2.split into contiguous planes, then
    one contiguous divide per plane: ~2x faster than numpy dividing through a transposed view.
    """
    import cv2

    shape = (img.shape[2],) + img.shape[:2]
    buf = workspace("planar", shape, np.float32)
    if img.dtype != np.uint8:
        cv2.split(img, list(buf))
        return buf
    planes = list(workspace("planar_u8", shape, np.uint8))
    cv2.split(img, planes)
    for plane, out in zip(planes, buf):
        np.divide(plane, np.float32(255.0), out=out)
    return buf


def _fft_resize(img: np.ndarray, plan: BlurPlan, dh: int, dw: int) -> np.ndarray:
    """The "fft" blur plan, then the resize straight from its planes (row-strided views, no copies)."""
    import cv2

    h, w = img.shape[:2]
    full = fft_correlate_planes(img, plan.taps, plan.anchor)
    planes = [full[c, :h, :w] for c in range(full.shape[0])]
    if (dh, dw) != (h, w):
        planes = [cv2.resize(p, (dw, dh), interpolation=cv2.INTER_LINEAR) for p in planes]
    return cv2.merge(planes).reshape(dh, dw, img.shape[2])


def blur_resize(img: np.ndarray, kernel: np.ndarray, dsize: tuple[int, int],
                budget: float = TRUNCATION_BUDGET, rounding_limit: float = ROUNDING_LIMIT) -> np.ndarray:
    """`cv2.resize(cv2.filter2D(x, -1, k32, borderType=BORDER_REFLECT_101), dsize, interpolation=INTER_LINEAR)`
    within `FusedPlan.error_bound`, faster.

    img: HxWxC, float32 in [0, 1] (x = img), or uint8 (x = img / 255 in float32, converted only as far as the
    route needs it). kernel: 2-D, centre-anchored. dsize: (width, height) as cv2.resize takes it. Returns float32.
    budget: the truncation budget ||K - A||_1; rounding_limit: the largest proven rounding bound a fused plan may
    have. Their sum bounds |output - exact| (plus the FFT route's ~2e-6, measured).
    """
    import cv2  # here: `bfrbench --help` must not pay for OpenCV

    if img.dtype not in (np.float32, np.uint8) or img.ndim != 3:
        raise ValueError(f"blur_resize expects a float32 or uint8 HxWxC image, got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    dw, dh = int(dsize[0]), int(dsize[1])
    if dw < 1 or dh < 1:
        raise ValueError(f"blur_resize: target size must be at least 1x1, got {dsize}")
    plan = plan_blur_resize(kernel, (h, w), (dw, dh), budget, rounding_limit)
    if plan.method == "separate" and plan.blur_plan.method == "fft":
        return _fft_resize(img, plan.blur_plan, dh, dw)
    if plan.method == "separate":
        if img.dtype == np.uint8:
            img = np.divide(img, np.float32(255.0), dtype=np.float32)  # = astype(float32) / 255, bit for bit
        out = blur(img, kernel, budget, plan=plan.blur_plan)
        if (dh, dw) != (h, w):
            out = cv2.resize(out, (dw, dh), interpolation=cv2.INTER_LINEAR)
        return out.reshape(dh, dw, img.shape[2])
    planes = _fused(_planar(img), plan, dh, dw)
    return cv2.merge(list(planes)).reshape(dh, dw, img.shape[2])  # planar -> interleaved in one pass
