"""Shared test settings: offline, no analytics, MLflow in a per-session temp sqlite store, tiny face sets."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

# Fixtures of networks with random weights (tests/random_weights.py). A plugin module, not a tests/metrics/conftest.py:
# the tests import helpers with `from conftest import ...`, and a second conftest.py would take that module name.
pytest_plugins = ["random_weights"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


def pytest_collection_modifyitems(config, items):
    """Longest test files first. `make test` spreads whole files over worker processes (pytest-xdist `--dist loadfile
    --no-loadscope-reorder`, which hands files out in this order): the two files that take most of the suite's time,
    the paper preflight and the `dvc repro` end-to-end test, must start at once on different workers, or one of them
    starts last and the run waits for it alone. A file's weight is the `minutes` of its `slow` mark (the measured time
    on 2 cores, rounded up); files without it keep pytest's order after them. The sort is stable and by file, so a
    file's tests stay together and in order."""
    weight: dict = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        weight[item.path] = max(weight.get(item.path, 0), mark.kwargs.get("minutes", 0) if mark else 0)
    items.sort(key=lambda item: -weight[item.path])


@pytest.fixture(autouse=True, scope="session")
def _mlflow_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}"
    yield store
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.fixture(autouse=True, scope="session")
def _feature_cache(tmp_path_factory):
    """The ground-truth feature cache (bfrbench.metrics.gt_cache) in a per-session folder: never the user's, and
    shared by the session's scoring tests and their subprocesses as score stages share it."""
    old = os.environ.get("BFRBENCH_FEATURE_CACHE")
    os.environ["BFRBENCH_FEATURE_CACHE"] = str(tmp_path_factory.mktemp("gt_features"))
    yield Path(os.environ["BFRBENCH_FEATURE_CACHE"])
    if old is None:
        os.environ.pop("BFRBENCH_FEATURE_CACHE", None)
    else:
        os.environ["BFRBENCH_FEATURE_CACHE"] = old


@pytest.fixture(autouse=True)
def _mlflow_uri_restored(_mlflow_store):
    """Each test starts and ends on the session store: a test that points MLflow at its own store (mlflow's
    set_tracking_uri also sets MLFLOW_TRACKING_URI) would leave later tests writing to a store in a folder that is
    deleted once the test passes (tmp_path_retention_policy), which sqlite then calls a readonly database."""
    uri = f"sqlite:///{_mlflow_store}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    yield
    os.environ["MLFLOW_TRACKING_URI"] = uri
    import sys

    # mlflow's own global wins over the variable, and a monkeypatched variable is restored before this runs
    if "mlflow" in sys.modules:  # only when a test loaded it: importing mlflow costs seconds
        sys.modules["mlflow"].set_tracking_uri(uri)


def smooth_face_like(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth, textured RGB uint8 image: enough structure for degradation and regression tests."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for _ in range(6):
        cx, cy, s = rng.random(), rng.random(), 0.05 + 0.2 * rng.random()
        color = rng.random(3)
        img += color * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s**2))[..., None]
    img += 0.15 * np.sin(2 * np.pi * (xx * rng.integers(2, 9) + yy * rng.integers(2, 9)))[..., None]
    img = (img - img.min()) / (img.max() - img.min() + 1e-9)
    return np.round(img * 255).astype(np.uint8)


def make_face_set(root: Path, size: int = 32, counts=(("train", 12), ("val", 4), ("test", 4)), seed: int = 0) -> Path:
    """A face-set folder in the layout of the `data` stage (hq/, manifest.csv) with synthetic images."""
    from bfrbench.io.images import write_image

    rng = np.random.default_rng(seed)
    (root / "hq").mkdir(parents=True, exist_ok=True)
    rows = []
    for split, n in counts:
        for i in range(n):
            name = f"{split}_{i:03d}"
            write_image(root / "hq" / f"{name}.png", smooth_face_like(rng, size))
            rows.append({"name": name, "split": split, "identity": name})
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["name", "split", "identity"])
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture
def tiny_faces(tmp_path) -> Path:
    return make_face_set(tmp_path / "faces")


@pytest.fixture
def real_face() -> np.ndarray:
    """A real photo of a face shipped by scikit-image (public domain), cropped to the face, 128 px."""
    import cv2
    from skimage import data

    img = data.astronaut()[20:220, 130:330]
    return cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)
