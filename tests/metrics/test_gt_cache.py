"""The ground-truth feature cache: a hit gives the bytes a miss computes; anything the value depends on misses."""

import numpy as np
import pytest

from bfrbench.metrics import gt_cache
from bfrbench.metrics.gt_cache import Protocol, gt_values
from bfrbench.metrics.registry import create_metric


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(gt_cache.ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(gt_cache, "_MEMORY", {})
    return tmp_path / "cache"


def _images(n=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


class Counting:
    def __init__(self, images):
        self.images, self.calls = images, 0

    def __call__(self, i):
        self.calls += 1
        return self.images[i].astype(np.float64).mean(axis=(0, 1)) * np.pi


def _new_process(monkeypatch):
    monkeypatch.setattr(gt_cache, "_MEMORY", {})  # what another score stage starts with


def test_a_hit_returns_the_computed_bytes_and_computes_nothing(cache, tmp_path, monkeypatch):
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    images = _images()
    first = Counting(images)
    computed = gt_values(Protocol("test/value", {"k": 1}, (model,), uses_torch=False), images, first)
    assert first.calls == 3 and len(list(cache.rglob("*.npy"))) == 3
    assert (cache / Protocol("test/value", {"k": 1}, (model,), uses_torch=False).digest / "protocol.json").is_file()
    _new_process(monkeypatch)
    second = Counting(images)
    cached = gt_values(Protocol("test/value", {"k": 1}, (model,), uses_torch=False), images, second)
    assert second.calls == 0
    assert all(a.tobytes() == b.tobytes() and a.dtype == b.dtype for a, b in zip(computed, cached))


def test_settings_model_bytes_and_pixels_are_part_of_the_key(cache, tmp_path, monkeypatch):
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    images = _images()
    gt_values(Protocol("test/value", {"k": 1}, (model,), uses_torch=False), images, Counting(images))
    for protocol in (Protocol("test/value", {"k": 2}, (model,), uses_torch=False),
                     Protocol("test/other", {"k": 1}, (model,), uses_torch=False)):
        _new_process(monkeypatch)
        counting = Counting(images)
        gt_values(protocol, images, counting)
        assert counting.calls == 3, protocol.name
    model.write_bytes(b"retrained")  # same path, new content: a new key
    _new_process(monkeypatch)
    counting = Counting(images)
    gt_values(Protocol("test/value", {"k": 1}, (model,), uses_torch=False), images, counting)
    assert counting.calls == 3
    changed = images.copy()
    changed[1, 0, 0, 0] ^= 1
    _new_process(monkeypatch)
    counting = Counting(changed)
    gt_values(Protocol("test/value", {"k": 1}, (model,), uses_torch=False), changed, counting)
    assert counting.calls == 1, "only the image with a changed pixel is computed again"


def test_the_code_and_library_versions_are_in_the_protocol(cache):
    described = Protocol("test/value", uses_torch=True).description()
    assert described["code"] == gt_cache._code_digest() and len(described["code"]) == 32
    assert "numpy" in described["libraries"] and "torch" in described["libraries"]
    assert set(described["torch"]) == {"cpu_capability", "threads"}


def test_off_writes_nothing_and_a_damaged_entry_is_recomputed(cache, tmp_path, monkeypatch):
    images = _images(2)
    monkeypatch.setenv(gt_cache.ENV, "off")
    counting = Counting(images)
    gt_values(Protocol("test/value", uses_torch=False), images, counting)
    assert counting.calls == 2 and not cache.exists()
    monkeypatch.setenv(gt_cache.ENV, str(cache))
    _new_process(monkeypatch)
    good = gt_values(Protocol("test/value", uses_torch=False), images, Counting(images))
    entry = sorted(cache.rglob("*.npy"))[0]
    entry.write_bytes(b"not an array")
    _new_process(monkeypatch)
    counting = Counting(images)
    again = gt_values(Protocol("test/value", uses_torch=False), images, counting)
    assert counting.calls == 1 and all(np.array_equal(a, b) for a, b in zip(good, again))
    assert np.load(entry).shape == good[0].shape, "the damaged entry was replaced"


def test_ids_dlib_and_frechet_dlib_share_the_ground_truth_once(cache, real_face, monkeypatch):
    """The real metrics: a second stage scoring other outputs against the same ground truth runs dlib only on the
    outputs, and gets the values a stage without the cache computes."""
    ids, frechet = create_metric("ids_dlib"), create_metric("frechet_dlib")
    if ids.check_available():
        pytest.skip(ids.check_available())
    import cv2

    gt = np.stack([real_face, real_face[:, ::-1].copy()])
    first_pred = np.stack([cv2.GaussianBlur(face, (0, 0), 2) for face in gt])
    second_pred = np.stack([cv2.GaussianBlur(face, (0, 0), 3) for face in gt])
    ids.score_batch(first_pred, gt)
    frechet.image_features(first_pred, gt)
    monkeypatch.setenv(gt_cache.ENV, "off")
    _new_process(monkeypatch)
    uncached = ids.score_batch(second_pred, gt), frechet.image_features(second_pred, gt)["gt"]
    monkeypatch.setenv(gt_cache.ENV, str(cache))
    _new_process(monkeypatch)
    chips = []
    real_descriptors = ids.descriptors
    monkeypatch.setattr(ids, "descriptors", lambda c: chips.extend(c) or real_descriptors(c))
    cached = ids.score_batch(second_pred, gt)
    assert len(chips) == 2, "only the two outputs' chips went through dlib"
    assert cached.tobytes() == uncached[0].tobytes()
    assert frechet.image_features(second_pred, gt)["gt"].tobytes() == uncached[1].tobytes()
    assert ids.score_batch(gt, gt).tolist() == [0.0, 0.0], "a face and its copy: exactly 0"


def test_the_default_folder_is_in_bfrbenchs_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(gt_cache.ENV, raising=False)
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    assert gt_cache.cache_root() == tmp_path / "cache" / "gt_features"
    monkeypatch.setenv(gt_cache.ENV, "off")
    assert gt_cache.cache_root() is None
