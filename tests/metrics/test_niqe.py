"""NIQE against the REFERENCE: BasicSR 1.4.2's own calculate_niqe, executed from its PyPI sdist (not copied here).

BasicSR's `basicsr/__init__` does not import with current torchvision, so the four source files calculate_niqe needs
(metrics/niqe.py, metrics/metric_util.py, utils/color_util.py, utils/matlab_functions.py) are executed from the
verified sdist as stand-alone modules, with a one-line stand-in for its metric registry decorator.
"""

import os
import sys
import types

import cv2
import numpy as np
import pytest

from bfrbench.errors import AssetError
from bfrbench.metrics.niqe import basicsr_luma, load_prior, matlab_resize_matrix, niqe_luma
from bfrbench.metrics.registry import create_metric
from bfrbench.reference.basicsr_sdist import BASICSR_SDIST, read_member

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REL_TOL = 1e-4
SDIST_MODULES = {
    "basicsr.utils.color_util": "basicsr/utils/color_util.py",
    "basicsr.utils.matlab_functions": "basicsr/utils/matlab_functions.py",
    "basicsr.metrics.metric_util": "basicsr/metrics/metric_util.py",
    "basicsr.metrics.niqe": "basicsr/metrics/niqe.py",
}


@pytest.fixture(scope="module")
def basicsr_niqe(tmp_path_factory):
    """BasicSR's calculate_niqe, run from the sdist (needs the sdist in the bfrbench cache, as NIQE itself does)."""
    try:
        sources = {name: read_member(path, download=False).decode() for name, path in SDIST_MODULES.items()}
        npz = read_member("basicsr/metrics/niqe_pris_params.npz", download=False)
    except AssetError:
        pytest.skip(f"{BASICSR_SDIST.filename} not cached; run bfrbench weights fetch {BASICSR_SDIST.name}")
    folder = tmp_path_factory.mktemp("basicsr_metrics")
    (folder / "niqe_pris_params.npz").write_bytes(npz)  # calculate_niqe reads it beside its own __file__
    registry = types.SimpleNamespace(register=lambda: (lambda f: f))
    saved = {k: sys.modules.get(k) for k in [*SDIST_MODULES, "basicsr", "basicsr.utils", "basicsr.metrics", "basicsr.utils.registry"]}
    try:
        sys.modules.update(
            {
                "basicsr": types.ModuleType("basicsr"),
                "basicsr.metrics": types.ModuleType("basicsr.metrics"),
                "basicsr.utils": types.ModuleType("basicsr.utils"),
                "basicsr.utils.registry": types.SimpleNamespace(METRIC_REGISTRY=registry),
            }
        )
        for name, source in sources.items():
            module = types.ModuleType(name)
            module.__file__ = str(folder / os.path.basename(SDIST_MODULES[name]))
            sys.modules[name] = module
            exec(compile(source, f"{BASICSR_SDIST.filename}:{SDIST_MODULES[name]}", "exec"), module.__dict__)
            if name == "basicsr.utils.color_util":
                sys.modules["basicsr.utils"].bgr2ycbcr = module.bgr2ycbcr
        return sys.modules["basicsr.metrics.niqe"]
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def reference(module, rgb: np.ndarray) -> float:
    return module.calculate_niqe(rgb[..., ::-1], crop_border=0, input_order="HWC", convert_to="y")


def rel(a, b) -> float:
    return abs(a - b) / abs(b)


@pytest.fixture(scope="module")
def astronaut():
    data = pytest.importorskip("skimage.data")
    return cv2.resize(data.astronaut(), (288, 288), interpolation=cv2.INTER_AREA)


def degrade(img: np.ndarray, kind: str) -> np.ndarray:
    if kind == "clean":
        return img
    if kind == "blur2":
        return cv2.GaussianBlur(img, (0, 0), 2)
    if kind == "bicubic4":
        h, w = img.shape[:2]
        return cv2.resize(cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_CUBIC), (w, h), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(15)
    return np.clip(np.round(img + rng.normal(0, 15, img.shape)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["clean", "blur2", "bicubic4", "noise15"])
def test_matches_basicsr_calculate_niqe(basicsr_niqe, astronaut, kind):
    img = degrade(astronaut, kind)
    ours = create_metric("niqe").score_batch(img[None], None)[0]
    assert rel(ours, reference(basicsr_niqe, img)) <= REL_TOL


def test_non_square_and_partial_blocks(basicsr_niqe, astronaut):
    img = cv2.resize(astronaut, (250, 200), interpolation=cv2.INTER_AREA)  # 2x2 blocks, edges cropped away
    assert rel(create_metric("niqe").score_batch(img[None], None)[0], reference(basicsr_niqe, img)) <= REL_TOL


def test_degradations_raise_niqe(astronaut):
    values = create_metric("niqe").score_batch(np.stack([degrade(astronaut, k) for k in ("clean", "blur2", "noise15")]), None)
    clean, blur, noise = values
    assert clean < blur and clean < noise


def test_luma_equals_basicsr_rounded_y(basicsr_niqe, astronaut):
    util = sys.modules.get("basicsr.metrics.metric_util") or basicsr_niqe.to_y_channel.__globals__
    to_y = basicsr_niqe.to_y_channel
    expected = np.round(np.squeeze(to_y(astronaut[..., ::-1].astype(np.float32))))
    assert util is not None and np.array_equal(basicsr_luma(astronaut), expected)


def test_resize_matches_basicsr_imresize(basicsr_niqe):
    rng = np.random.default_rng(0)
    img = rng.random((97, 50))
    ref = basicsr_niqe.imresize(img.astype(np.float32), scale=0.5, antialiasing=True)
    ours = matlab_resize_matrix(97, 0.5) @ img @ matlab_resize_matrix(50, 0.5).T
    assert ours.shape == ref.shape == (49, 25)
    assert np.max(np.abs(ours - ref)) < 1e-5


def test_prior_is_the_matlab_release_shape():
    prior = load_prior()
    assert prior["mu_pris_param"].shape == (1, 36) and prior["cov_pris_param"].shape == (36, 36)
    assert prior["gaussian_window"].shape == (7, 7) and abs(prior["gaussian_window"].sum() - 1) < 1e-6


def test_too_small_image_is_undefined_not_a_number(astronaut):
    with pytest.raises(Exception, match="at least 96x96"):
        niqe_luma(np.zeros((64, 200)), load_prior())
    metric = create_metric("niqe")
    crops = [astronaut[None, :95, :200], astronaut[None, :128, :128], astronaut[None, :96, :192]]  # 0, 1, 2 blocks
    values = np.concatenate([metric.score_batch(c, None) for c in crops])
    assert np.isnan(values[:2]).all() and np.isfinite(values[2])
    assert metric.summarize(values) == {"value": values[2], "n": 1, "n_nan": 2}


def test_missing_prior_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)
    metric = create_metric("niqe")
    reason = metric.check_available()
    assert reason.startswith("unavailable: NIQE prior") and reason.endswith(f"; run bfrbench weights fetch {BASICSR_SDIST.name}")
    with pytest.raises(AssetError, match="unavailable"):
        metric.score_batch(np.zeros((1, 96, 96, 3), np.uint8), None)


def test_close_to_pyiqa_niqe_given_the_same_prior(astronaut, tmp_path):
    """pyiqa's NIQE (float64 throughout, YCbCr Y) fed the same prior as a .mat: independent code, same model.

    Measured gaps (skimage astronaut, coffee, chelsea; clean/blur/x4/noise): median ~5e-5, worst 1.9e-2 (astronaut
    clean at 512 px): the float32-vs-float64 sensitivity described in bfrbench.metrics.niqe.
    """
    pyiqa = pytest.importorskip("pyiqa")
    torch = pytest.importorskip("torch")
    scipy_io = pytest.importorskip("scipy.io")
    prior = load_prior()
    mat = tmp_path / "niqe_prior.mat"
    scipy_io.savemat(mat, {"mu_prisparam": prior["mu_pris_param"], "cov_prisparam": prior["cov_pris_param"]})
    reference_metric = pyiqa.create_metric("niqe", device="cpu", color_space="ycbcr", pretrained_model_path=str(mat))
    ours = create_metric("niqe")
    for kind in ("clean", "blur2", "bicubic4", "noise15"):
        img = degrade(astronaut, kind)
        theirs = float(reference_metric(torch.from_numpy(img.transpose(2, 0, 1).copy())[None].float() / 255))
        assert rel(ours.score_batch(img[None], None)[0], theirs) < 3e-2, kind
