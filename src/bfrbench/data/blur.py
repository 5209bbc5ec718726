"""A faster stand-in for the degradation's 41x41 blur, `cv2.filter2D(img, -1, k32, borderType=BORDER_REFLECT_101)`.

Why: that call is ~70% of the naive degradation's time. OpenCV runs a 41x41 float kernel through a 3-channel DFT
(~15 ms at 512x512, one thread), although every isotropic or axis-aligned Gaussian is exactly one outer product (two
1-D passes of 41 taps, ~4.5 ms), a few rotated ones are two or three, and narrow kernels need far fewer taps.

How (`plan_blur` picks the cheapest of these that meets the error budget, by a cost model; `blur` runs it):
- "scale": the kernel crops to its anchor tap: one multiply.
- "separable": split the kernel into the fewest outer products a_t b_t^T that meet half the budget (its row and
  column marginals when it is rank one, else an SVD), crop the factors' negligible outer taps with the rest, run
  each term as `cv2.sepFilter2D` (same border rule, same anchor) and add them up.
- "dense": `cv2.filter2D` on the crop, when the crop has < 130 taps (OpenCV then filters directly, no DFT).
- "fft": what rotated anisotropic kernels that are neither narrow nor low-rank get (a thin slanted line is
  full-rank): a float32 FFT correlation (reflect-101 padding into reused zero-padded planes of 2-3-5-7-smooth
  sizes, 560 for a 512 px face; `torch.fft` real 2-D transforms of all channels in one call, the kernel's spectrum
  conjugated). ~2x faster than `cv2.filter2D`, whose DFT for float32 images runs in float64 (torch.fft and
  OpenCV's float32 DFT ran equally fast in the pipeline; torch's needs no per-channel copies).
- "reference": `cv2.filter2D` on the whole kernel, i.e. the reference call itself (`plan_blur(..., fft=False)`).

Error bound, for inputs in [0, 1] (scale by max|x| otherwise). Let K be the float32 kernel filter2D uses and A the
kernel we apply: the sum of the outer products of the float32 factors we hand to OpenCV, zero outside the crop.
1. Truncation: |A*x - K*x| <= ||K - A||_1 * max|x|. `plan_blur` computes ||K - A||_1 exactly (float64 on the float32
   factors) and only accepts plans with ||K - A||_1 <= `TRUNCATION_BUDGET` = 1e-6. (5e-5 was no faster and made the
   8-bit flips described below 15x more frequent; 1e-7 changed nothing: float32 rounding is the floor there.)
2. Our float32 rounding: each pass sums at most n products in float32, so a plan adds at most
   n * 2^-24 * sum_t ||a_t||_1 ||b_t||_1 (`BlurPlan.rounding_bound`, ~5e-6 for 2 x 41 taps); plans above
   `ROUNDING_LIMIT` = 8e-6 are not used.
3. filter2D's own rounding: within half an ulp (<= 6e-8) of the exact correlation; "reference" plans are filter2D.
4. "fft" plans have no useful proven bound (worst-case float32 FFT bounds scale with the image's l2 norm); their
   `rounding_bound` is `FFT_ERROR` = 2e-6, four times the largest error measured on random, 0/1, constant and face
   images from 16 to 512 px (2.4e-7 to 4.8e-7 with torch.fft; tests/data/test_blur.py and test_blur_resize.py
   check it).
Hence the documented bound, which tests/data/test_blur.py checks on random and real images across the presets'
sigma and angle ranges (measured worst: ~6e-7):

    max |blur(x, k) - cv2.filter2D(x, -1, k.astype(float32), borderType=BORDER_REFLECT_101)| <= ERROR_BOUND = 1e-5

1e-5 is 0.00255 of an 8-bit level. In the degradation the blur is followed by a bilinear resize (a convex combination:
the bound carries over), the same noise, a clip (non-expansive) and rounding to 8 bit before JPEG: so that 8-bit image
differs from the filter2D path's by at most one level, and only where the exact value lies within the error of a
rounding edge: about 5 in a million values at 512 px (mean error ~2e-8). Both cuts keep the kernel's sum (its
response to a flat patch) equal to K's up to float32 rounding, so flat regions see no approximation error.
Not bit-exact, though: JPEG can spread one flipped level of its input over a whole block, by up to ~15 levels at low
quality (see benchmarks/README.md). Anything that must reproduce filter2D bit for bit (the DifFace grid test set, the
torch-path parity tests) has to keep calling filter2D.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

TRUNCATION_BUDGET = 1e-6  # max ||K - A||_1 a plan may have
ROUNDING_LIMIT = 8e-6  # max float32 rounding bound a plan may have
FFT_ERROR = 2e-6  # "fft" plans: 4x the largest error measured (not a proof, see the docstring)
ERROR_BOUND = 1e-5  # documented max |blur - filter2D| for inputs in [0, 1]: the two above + filter2D's half ulp
CROP_SHARE = 0.5  # share of the truncation budget the 2-D crop ("scale", "dense") may use

_UNIT_ROUNDOFF = 2.0**-24
# Cost model, in units of one 1-D tap pass over the image (~0.055 ms at 512x512x3 float32, one thread, measured in
# pipeline conditions: a fresh image each call). A separable term costs its taps + 1.5 when both factors are
# exactly symmetric or antisymmetric (OpenCV then folds the kernel: half the multiplies), 2.15x its taps otherwise;
# each term after the first costs 13 more (its output buffer and the accumulation). OpenCV's direct 2-D filter costs
# ~0.75 per kernel element + 1; from 130 elements it switches to a DFT worth ~300 units whatever the kernel. Other
# image sizes move the crossovers a little; every plan stays within the bound whatever it costs.
_SEPARABLE_TERM_COST, _ASYMMETRIC_FACTOR, _ACCUMULATE_COST = 1.5, 2.15, 13.0
_DENSE_PER_ELEMENT, _DENSE_BASE_COST, _DENSE_MAX_ELEMENTS = 0.75, 1.0, 129
_DFT_COST = 300.0
_FFT_COST = 130.0  # our float32 FFT at 512 px: ~7 ms in pipeline conditions (3 channels, forward + inverse;
# re-measured 2026-11-29 with torch.fft: 6-9 ms on the loaded box, 0.85-1.3x of this)
_SCALE_COST = 4.5


@dataclass(frozen=True)
class BlurPlan:
    """How `blur` runs one kernel, what that costs in time (model units) and what it costs in accuracy."""

    method: str  # "scale", "separable", "dense", "fft" or "reference"
    anchor: tuple[int, int]  # (x, y) of the kernel's anchor inside `taps`, as OpenCV expects
    rows: tuple[np.ndarray, ...]  # "separable": per term, the float32 factor applied along y
    cols: tuple[np.ndarray, ...]  # "separable": per term, the float32 factor applied along x
    taps: np.ndarray | None  # "scale"/"dense": the cropped float32 kernel; "reference": the whole one
    truncation_error: float  # ||K - A||_1, exact
    rounding_bound: float  # bound on our float32 rounding for |x| <= 1 (0 for "reference": it is filter2D)
    cost: float  # cost-model units (see _DFT_COST)

    @property
    def error_bound(self) -> float:
        return self.truncation_error + self.rounding_bound

    @property
    def n_terms(self) -> int:
        return len(self.rows)


def _trim(mass: list[float], budget: float, keep: int, symmetric: bool = False) -> tuple[int, int]:
    """Drop the lighter end of `mass` while the total dropped stays <= budget; never drop index `keep`.

    symmetric: drop both ends together, so that a symmetric factor stays symmetric (OpenCV's fast path).
    """
    first, last = 0, len(mass) - 1
    dropped = 0.0
    while first < keep or last > keep:
        if symmetric:
            weight = mass[first] + mass[last]
        else:
            take_first = last <= keep or (first < keep and mass[first] <= mass[last])
            weight = mass[first] if take_first else mass[last]
        if dropped + weight > budget:
            break
        dropped += weight
        if symmetric or take_first:
            first += 1
        if symmetric or not take_first:
            last -= 1
    return first, last


def _crop_box(k: np.ndarray, budget: float, anchor: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), inclusive: outer rows and columns whose absolute weight adds up to <= budget.

    Rows and columns get half the budget each; a corner counted in both only makes the true drop smaller.
    """
    mag = np.abs(k)
    top, bottom = _trim(mag.sum(axis=1).tolist(), budget / 2, anchor[1])
    left, right = _trim(mag.sum(axis=0).tolist(), budget / 2, anchor[0])
    return top, bottom, left, right


def _fold(k: np.ndarray, sign: float, axis: int) -> np.ndarray:
    """Fold an odd-length axis about its centre: index 0 keeps the centre (even part only), index i > 0 holds
    (x[c+i] + sign * x[c-i]) / sqrt(2). An orthonormal change of basis on the even (sign 1) or odd (sign -1) part."""
    k = np.moveaxis(k, axis, 0)
    c = k.shape[0] // 2
    folded = (k[c + 1:] + sign * k[c - 1::-1]) / np.sqrt(2.0)
    if sign > 0:
        folded = np.concatenate([k[c:c + 1], folded])
    return np.moveaxis(folded, 0, axis)


def _unfold(x: np.ndarray, sign: float) -> np.ndarray:
    """Inverse of `_fold` for vectors (last axis): exactly symmetric (sign 1) or antisymmetric (sign -1)."""
    half = x[..., 1:] if sign > 0 else x
    half = half / np.sqrt(2.0)
    centre = x[..., :1] if sign > 0 else np.zeros(x.shape[:-1] + (1,))
    return np.concatenate([sign * half[..., ::-1], centre, half], axis=-1)


def _parity_svd(k: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """SVD terms (s, u, v) of a point-symmetric kernel, every u and v exactly symmetric or antisymmetric.

    k(-i, -j) = k(i, j) makes k commute with the flip, so its even-odd cross blocks vanish: k is the sum of its even
    and its odd block, whose singular vectors are even (odd). Folding each block to half size makes its SVD 8x
    cheaper, and unfolding places the same value at +i and -i, so the symmetry holds to the bit.
    """
    terms = []
    for sign in (1.0, -1.0):
        u, s, vt = np.linalg.svd(_fold(_fold(k, sign, 0), sign, 1))
        us, vs = _unfold(u.T, sign), _unfold(vt, sign)
        terms += [(s[t], us[t], vs[t]) for t in range(len(s))]
    return sorted(terms, key=lambda term: -term[0])


def _factorise(k: np.ndarray, budget: float, max_terms: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Fewest (<= max_terms) outer products rows[t] x cols[t] (float64) within `budget` of `k` in l1."""
    # Isotropic and axis-aligned Gaussians are one outer product of their marginals: no SVD needed.
    rows, cols = k.sum(axis=1), k.sum(axis=0)
    if symmetric:  # the marginals are symmetric, but summation order differs by the last bit: fold them
        rows, cols = (rows + rows[::-1]) / 2, (cols + cols[::-1]) / 2
    total = rows.sum()
    if total != 0 and np.abs(k - np.outer(rows, cols / total)).sum() <= budget:
        return rows[None], (cols / total)[None]
    if max_terms < 2:
        return None
    weights, us, vs = _svd_terms(k, symmetric)
    # The residual after c terms has Frobenius norm sqrt(sum_{t >= c} s_t^2), and an l1 norm at least that large:
    # counts whose tail is above the budget cannot meet it, so the sequential l1 checks start at the first that can.
    tail = np.sqrt(np.cumsum((weights**2)[::-1])[::-1])
    possible = np.flatnonzero(tail[1:] <= budget)
    count = int(possible[0]) + 1 if len(possible) else len(weights)
    if count > max_terms:
        return None
    residual = k - (us[:count].T * weights[:count]) @ vs[:count]
    while np.abs(residual).sum() > budget:  # the fewest leading terms within budget
        if count == min(max_terms, len(weights)):
            return None
        residual -= weights[count] * np.outer(us[count], vs[count])
        count += 1
    root = np.sqrt(weights[:count])[:, None]
    return root * us[:count], root * vs[:count]


_SVD_CACHE = threading.local()


def _svd_terms(k: np.ndarray, symmetric: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(singular values, left vectors, right vectors) as rows, largest first; the last kernel's are kept per thread
    (planning a fused blur+resize asks twice: once for `plan_blur`, once with more terms for the fused route)."""
    key = (k.shape, k.tobytes(), symmetric)
    cached = getattr(_SVD_CACHE, "last", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    if symmetric:
        terms = _parity_svd(k)
        result = (np.array([t[0] for t in terms]), np.array([t[1] for t in terms]), np.array([t[2] for t in terms]))
    else:
        u, s, vt = np.linalg.svd(k)
        result = (s, u.T.copy(), vt)
    _SVD_CACHE.last = (key, result)
    return result


def _separable_plan(k: np.ndarray, budget: float, anchor: tuple[int, int], max_terms: int) -> BlurPlan | None:
    """Factorise with half the budget, crop the factors' outer taps with what is left, and check the exact error."""
    # Point-symmetric (every centred Gaussian is): keep each factor exactly (anti)symmetric about the anchor.
    symmetric = k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1 and np.array_equal(k, k[::-1, ::-1])
    factors = _factorise(k, budget / 2, max_terms, symmetric)
    if factors is None:
        return None
    rows, cols = factors
    # Weight a row (column) of taps carries over all terms: dropping it costs at most that much.
    row_mass = (np.abs(rows) * np.abs(cols).sum(axis=1)[:, None]).sum(axis=0)
    col_mass = (np.abs(cols) * np.abs(rows).sum(axis=1)[:, None]).sum(axis=0)
    spare = budget - float(np.abs(k - rows.T @ cols).sum())
    for share in (0.5, 0.0):  # if rounding to float32 tips the cropped plan over the budget, do not crop
        top, bottom = _trim(row_mass.tolist(), share * spare / 2, anchor[1], symmetric)
        left, right = _trim(col_mass.tolist(), share * spare / 2, anchor[0], symmetric)
        r, c = rows[:, top:bottom + 1], cols[:, left:right + 1]
        applied_sum = float((r.sum(axis=1) * c.sum(axis=1)).sum())
        gain = k.sum() / applied_sum if applied_sum != 0 else 1.0
        if abs(gain - 1.0) < 1e-3:  # put the dropped weight back: flat regions then see the kernel's exact sum
            r = r * gain
        r32, c32 = r.astype(np.float32), c.astype(np.float32)
        applied = np.zeros_like(k)
        applied[top:bottom + 1, left:right + 1] = r32.T.astype(np.float64) @ c32.astype(np.float64)
        error = float(np.abs(k - applied).sum())
        if error <= budget:
            n_terms, n_taps = len(r32), r32.shape[1] + c32.shape[1]
            norms = float((np.abs(r32).sum(axis=1, dtype=np.float64) * np.abs(c32).sum(axis=1, dtype=np.float64)).sum())
            rounding = (n_taps + n_terms) * _UNIT_ROUNDOFF * norms
            pass_cost = n_taps if symmetric else _ASYMMETRIC_FACTOR * n_taps
            cost = n_terms * (pass_cost + _SEPARABLE_TERM_COST) + (n_terms - 1) * _ACCUMULATE_COST
            return BlurPlan("separable", (anchor[0] - left, anchor[1] - top), tuple(r32), tuple(c32), None, error,
                            rounding, cost)
    return None


def _dense_cost(elements: int) -> float:
    return _DFT_COST if elements > _DENSE_MAX_ELEMENTS else _DENSE_PER_ELEMENT * elements + _DENSE_BASE_COST


def plan_blur(kernel: np.ndarray, budget: float = TRUNCATION_BUDGET, fft: bool = True) -> BlurPlan:
    """The cheapest way to run `kernel` with ||K - A||_1 <= budget (see the module docstring).

    fft: allow the float32 FFT route (its error is measured, not proven); without it the fallback is filter2D.
    """
    return plan_blur_candidates(kernel, budget, fft)[0]


def plan_blur_candidates(kernel: np.ndarray, budget: float = TRUNCATION_BUDGET, fft: bool = True
                         ) -> tuple[BlurPlan, BlurPlan | None]:
    """`plan_blur`'s plan, and the "separable" candidate it weighed (None if it tried none or none met the budget;
    it may be the plan itself). `bfrbench.data.blur_resize` reuses the candidate instead of factorising again."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 2 or kernel.size == 0:
        raise ValueError(f"blur expects a 2-D kernel, got shape {kernel.shape}")
    if not np.isfinite(kernel).all():
        raise ValueError("blur kernel has NaN or infinite weights")
    k32 = np.ascontiguousarray(kernel, dtype=np.float32)
    k = k32.astype(np.float64)  # exactly the kernel filter2D uses
    anchor = (k.shape[1] // 2, k.shape[0] // 2)  # filter2D's default anchor (-1, -1)
    plans = [BlurPlan("reference", anchor, (), (), k32, 0.0, 0.0, _dense_cost(k.size))]
    if fft and k.size > _DENSE_MAX_ELEMENTS:  # below that filter2D filters directly, exactly and cheaply
        plans.append(BlurPlan("fft", anchor, (), (), k32, 0.0, FFT_ERROR, _FFT_COST))

    # A 2-D crop, for "scale" and "dense". Each dropped unit of weight counts twice: dropped, then added back on the
    # anchor so that flat regions see the kernel's exact sum.
    top, bottom, left, right = _crop_box(k, CROP_SHARE * budget / 2, anchor)
    inside = k[top:bottom + 1, left:right + 1]
    crop = inside.copy()
    crop_anchor = (anchor[0] - left, anchor[1] - top)
    crop[crop_anchor[1], crop_anchor[0]] += k.sum() - crop.sum()
    crop32 = crop.astype(np.float32)
    crop_error = float(np.abs(k).sum() - np.abs(inside).sum() + np.abs(inside - crop32).sum())
    l1 = float(np.abs(crop32).sum(dtype=np.float64))
    if crop.size == 1:
        plans.append(BlurPlan("scale", crop_anchor, (), (), crop32, crop_error, _UNIT_ROUNDOFF * l1, _SCALE_COST))
    elif crop.size < k.size:
        rounding = crop.size * _UNIT_ROUNDOFF * l1
        plans.append(BlurPlan("dense", crop_anchor, (), (), crop32, crop_error, rounding, _dense_cost(crop.size)))

    # Only as many separable terms as can still beat the cheapest plan so far (the 2-D crop estimates the taps).
    term_cost = crop.shape[0] + crop.shape[1] + _SEPARABLE_TERM_COST + _ACCUMULATE_COST
    max_terms = int((min(p.cost for p in plans) + _ACCUMULATE_COST) // term_cost)
    separable = None
    if crop.size > 1 and max_terms >= 1:
        separable = _separable_plan(k, budget, anchor, max_terms)
        if separable is not None:
            plans.append(separable)
    valid = [p for p in plans if p.truncation_error <= budget and p.rounding_bound <= ROUNDING_LIMIT]
    return min(valid, key=lambda p: p.cost), separable  # ties go to the earliest: the reference call


_WORKSPACE = threading.local()


def workspace(name: str, shape: tuple[int, ...], dtype, zeros: bool = False) -> np.ndarray:
    """A per-thread buffer, reused while `shape` and `dtype` stay the same (in training: every sample).

    Why: a fresh multi-MB array is fresh pages, and on the dev box's VM each first touch of a page costs more than
    computing into it (a 3 MB cv2.split of a 512 px float image: 3.5 ms fresh, 0.6 ms into reused planes).
    The caller must be done with the buffer before it asks for the same name again.
    """
    cache = getattr(_WORKSPACE, "buffers", None)
    if cache is None:
        cache = _WORKSPACE.buffers = {}
    buf = cache.get(name)
    if buf is None or buf.shape != tuple(shape) or buf.dtype != np.dtype(dtype):
        buf = cache[name] = (np.zeros if zeros else np.empty)(shape, dtype)
    return buf


def fft_size(n: int) -> int:
    """The smallest 2-3-5-7-smooth length >= n: what the FFT libraries run fastest (560 for a 552 px padded face,
    where OpenCV's 2-3-5 sizes need 576)."""
    from scipy.fft import next_fast_len

    return next_fast_len(n)


def _padded_planes(img: np.ndarray, kernel_shape: tuple[int, int], anchor: tuple[int, int]) -> np.ndarray:
    """(C, fh, fw) float32: every channel of img reflect-101 padded as filter2D pads it (uint8 divided by 255 first,
    = astype(float32) / 255 bit for bit), then zero-padded to FFT sizes. A per-thread buffer whose zeros stay zeros:
    for a given (C, ph, pw), only its [:ph, :pw] corner is ever written."""
    import cv2

    kh, kw = kernel_shape
    ax, ay = anchor
    top, bottom, left, right = ay, kh - 1 - ay, ax, kw - 1 - ax
    h, w = img.shape[:2]
    channels = img.shape[2] if img.ndim == 3 else 1
    ph, pw = h + top + bottom, w + left + right
    buf = workspace(f"fft_planes_{ph}x{pw}", (channels, fft_size(ph), fft_size(pw)), np.float32, zeros=True)
    if channels == 1:
        planes = [img.reshape(h, w)]
    else:
        planes = list(workspace("fft_split", (channels, h, w), img.dtype))
        cv2.split(img, planes)
    for c, plane in enumerate(planes):
        if plane.dtype == np.uint8:
            plane = np.divide(plane, np.float32(255.0), out=workspace("fft_u8_plane", (h, w), np.float32))
        cv2.copyMakeBorder(plane, top, bottom, left, right, cv2.BORDER_REFLECT_101, dst=buf[c, :ph, :pw])
    return buf


def fft_correlate_planes(img: np.ndarray, kernel: np.ndarray, anchor: tuple[int, int]) -> np.ndarray:
    """filter2D's correlation of every channel of `img` (float32, or uint8 read as img / 255) with `kernel` at
    `anchor`, by float32 real FFTs (torch.fft, all channels in one call): (C, fh, fw), the result in its
    [:, :h, :w] corner. The FFT sizes cover the padded image, so the correlation is linear, not circular, there.
    A per-thread buffer: use it before the next call. (An inverse of only the rows a downsample reads, a column
    transform then a row transform, was slower: torch's strided column FFT costs more than the whole irfft2.)"""
    import torch

    buf = _padded_planes(img, kernel.shape, anchor)
    channels, fh, fw = buf.shape
    spectrum = torch.from_numpy(workspace("fft_spectrum", (channels, fh, fw // 2 + 1), np.complex64))
    torch.fft.rfft2(torch.from_numpy(buf), out=spectrum)
    # The kernel has kh non-zero rows: a real FFT of those rows, then a full FFT down the columns (cheaper than
    # rfft2 of the zero-padded plane). Correlation = product with the kernel spectrum's conjugate.
    taps = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32))
    kernel_spectrum = torch.fft.fft(torch.fft.rfft(taps, n=fw, dim=-1), n=fh, dim=0)
    spectrum.mul_(kernel_spectrum.conj_physical_())
    out = workspace("fft_result", buf.shape, np.float32)
    torch.fft.irfft2(spectrum, s=(fh, fw), out=torch.from_numpy(out))
    return out


def fft_correlate(img: np.ndarray, kernel: np.ndarray, anchor: tuple[int, int]) -> np.ndarray:
    """filter2D's correlation (reflect-101 borders, `anchor` = (x, y) in the kernel) by a float32 FFT, see
    `fft_correlate_planes`. img: HxW or HxWxC, float32 or uint8 (read as img / 255). Returns float32, img's shape."""
    import cv2

    h, w = img.shape[:2]
    full = fft_correlate_planes(img, kernel, anchor)
    planes = [full[c, :h, :w] for c in range(full.shape[0])]
    out = cv2.merge(planes) if len(planes) > 1 else planes[0].copy()  # merge: planar -> interleaved, one pass
    return out.reshape(img.shape)


def blur(img: np.ndarray, kernel: np.ndarray, budget: float = TRUNCATION_BUDGET, plan: BlurPlan | None = None
         ) -> np.ndarray:
    """`cv2.filter2D(img, -1, kernel.astype(float32), borderType=BORDER_REFLECT_101)` within `ERROR_BOUND`, faster.

    img: float32 HxW or HxWxC with values in [0, 1] (the bound scales with max|img| otherwise).
    kernel: a 2-D float kernel, anchored at its centre like filter2D's default. Returns float32, img's shape.
    plan: `plan_blur(kernel, budget)` if the caller already has it (planning costs ~0.1-0.5 ms).
    """
    import cv2  # here, not at the top: `bfrbench --help` must not pay for OpenCV (tests/test_cli_startup.py)

    if img.dtype != np.float32:
        raise ValueError(f"blur expects a float32 image, got {img.dtype}")
    if plan is None:
        plan = plan_blur(kernel, budget)
    border = cv2.BORDER_REFLECT_101
    if plan.method == "scale":
        return img * plan.taps[0, 0]
    if plan.method == "fft":
        return fft_correlate(img, plan.taps, plan.anchor)
    if plan.method in ("dense", "reference"):
        out = cv2.filter2D(img, -1, plan.taps, anchor=plan.anchor, borderType=border)
    else:
        out = None
        for rows, cols in zip(plan.rows, plan.cols):
            term = cv2.sepFilter2D(img, -1, cols, rows, anchor=plan.anchor, borderType=border)
            out = term if out is None else cv2.add(out, term, dst=out)
    return out.reshape(img.shape)  # OpenCV returns HxWx1 input as HxW
