"""fid_folder: pytorch-fid's reading of a reference folder (its own file selection and activations, RANDOM Inception
weights: code paths only, never a reported number), the file-list hash, the feature cache, and "unavailable"."""

import numpy as np
import pytest
from PIL import Image

from bfrbench.metrics.frechet import feature_stats
from bfrbench.metrics.reference_folder import HASHED, ReferenceFolder, file_list_sha256, list_reference_images
from bfrbench.metrics.registry import create_metric, get_spec

torch = pytest.importorskip("torch")
fid_score = pytest.importorskip("pytorch_fid.fid_score")
REL_TOL = 1e-4


def _write(path, rng, size=40, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).convert(mode)
    image.save(path)


@pytest.fixture
def reference(tmp_path):
    """A reference folder with what pytorch-fid reads (png, jpg, webp, a gray PNG) and what it does not (an
    upper-case extension, a subfolder, a text file)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "ffhq"
    for name in ("00000.png", "00001.png", "00002.jpg", "00003.webp"):
        _write(folder / name, rng)
    _write(folder / "00004.png", rng, mode="L")
    _write(folder / "UPPER.PNG", rng)
    _write(folder / "sub" / "00005.png", rng)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_file_selection_is_pytorch_fids(reference, monkeypatch):
    seen = {}

    def capture(files, *args, **kwargs):
        seen["files"] = list(files)
        return np.zeros(2), np.eye(2)

    monkeypatch.setattr(fid_score, "calculate_activation_statistics", capture)
    fid_score.compute_statistics_of_path(str(reference), None, 50, 2048, "cpu")  # pytorch-fid's own listing
    assert list_reference_images(reference) == seen["files"]
    assert [p.name for p in seen["files"]] == ["00000.png", "00001.png", "00002.jpg", "00003.webp", "00004.png"]


def test_file_list_hash_covers_names_and_sizes_only(reference):
    files = list_reference_images(reference)
    before = file_list_sha256(files)
    assert before == file_list_sha256(list(reversed(files)))  # order-independent: a sorted list
    first = files[0]
    data = bytearray(first.read_bytes())
    data[-20] ^= 0xFF  # same size, other content: documented as NOT noticed (names and sizes are hashed)
    first.write_bytes(bytes(data))
    assert file_list_sha256(files) == before
    first.write_bytes(bytes(data) + b"\0")
    assert file_list_sha256(files) != before
    (reference / "00000.png").rename(reference / "renamed.png")
    assert file_list_sha256(list_reference_images(reference)) != before


@pytest.fixture(scope="module")
def pytorch_fid_net(random_inception_state):
    """pytorch-fid's InceptionV3 (pool3, its default resize and normalisation) with the random state dict."""
    inception = pytest.importorskip("pytorch_fid.inception")
    original = inception.load_state_dict_from_url
    inception.load_state_dict_from_url = lambda *a, **k: random_inception_state
    try:
        return inception.InceptionV3([3]).eval()
    finally:
        inception.load_state_dict_from_url = original


def test_reference_features_equal_pytorch_fid_activations(random_inception, reference, pytorch_fid_net):
    metric = create_metric("fid_folder", reference_dir=str(reference))
    assert metric.check_available() is None
    ours = metric.reference_features()
    files = list_reference_images(reference)
    # pytorch-fid's own reading (PIL convert('RGB'), ToTensor) and network, batch 1 (the images differ in format).
    theirs = fid_score.get_activations(files, pytorch_fid_net, batch_size=1, dims=2048, device="cpu", num_workers=0)
    assert ours.shape == (5, 2048) and np.abs(theirs).max() > 1  # O(1) activations: a real comparison
    # float32 rounding only (the FID port's measured gap is 4e-7 of the largest feature, tests/metrics/test_fid.py)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())


def test_result_records_the_reference_and_is_the_frechet_distance_to_it(random_inception, reference, monkeypatch):
    from bfrbench.metrics import fid

    calls = []
    # The 2048-d distance itself is calibrated in test_fid.py; here: which statistics it is given (and no 80 s eigh).
    monkeypatch.setattr(fid, "frechet_distance", lambda *stats: calls.append(stats) or 1.5)
    metric = create_metric("fid_folder", reference_dir=str(reference))
    pred = np.abs(np.random.default_rng(1).normal(0, 0.5, (4, 2048))).astype(np.float32)
    result = metric.compute_from_features({"pred": pred})
    ref = metric.reference_features()
    assert result["value"] == 1.5 and len(calls) == 1
    for got, expected in zip(calls[0], (*feature_stats(pred), *feature_stats(ref)), strict=True):
        np.testing.assert_array_equal(got, expected)
    files = list_reference_images(reference)
    assert result["n"] == 4 and result["n_reference"] == 5 and result["reference_files_hashed"] == HASHED
    assert result["reference_files_sha256"] == file_list_sha256(files)
    assert result["dims"] == 2048 and result["few_images"] is True
    assert metric.settings()["reference_files_sha256"] == result["reference_files_sha256"]


def test_features_are_cached_by_file_list(random_inception, reference, monkeypatch):
    from bfrbench.metrics import reference_folder

    first = create_metric("fid_folder", reference_dir=str(reference)).reference_features()

    def no_network(*args, **kwargs):
        raise AssertionError("the cached reference features were not used")

    monkeypatch.setattr(reference_folder, "compute_features", no_network)
    again = create_metric("kid_folder", reference_dir=str(reference)).reference_features()  # shared with kid_folder
    np.testing.assert_array_equal(first, again)
    _write(reference / "00006.png", np.random.default_rng(5))  # another file list: another cache entry
    with pytest.raises(AssertionError, match="not used"):
        create_metric("fid_folder", reference_dir=str(reference)).reference_features()


def test_a_cache_entry_of_another_list_is_not_used(random_inception, reference, monkeypatch):
    folder = ReferenceFolder(reference)
    path = folder.cache_path("pytorch_fid", "0" * 64)
    path.parent.mkdir(parents=True)
    np.savez(path, features=np.zeros((5, 2048), np.float32), files_sha256=np.array("f" * 64))
    calls = []
    from bfrbench.metrics import reference_folder

    monkeypatch.setattr(reference_folder, "compute_features", lambda *a, **k: calls.append(1) or np.ones((5, 2048)))
    assert folder.features(None, "pytorch_fid", "0" * 64).sum() == 5 * 2048 and calls == [1]
    path.write_bytes(b"corrupt")
    assert ReferenceFolder(reference).features(None, "pytorch_fid", "0" * 64).sum() == 5 * 2048 and calls == [1, 1]


def test_unavailable_reasons(no_weights, random_inception, tmp_path, monkeypatch):
    reason = create_metric("fid_folder").check_available()
    assert reason.startswith("unavailable: ") and reason.endswith("--option fid_folder.reference_dir=PATH/TO/FFHQ")
    missing = create_metric("fid_folder", reference_dir=str(tmp_path / "nowhere")).check_available()
    assert "does not exist" in missing
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.PNG").write_bytes(b"")  # an upper-case extension: pytorch-fid does not read it
    empty = create_metric("kid_folder", reference_dir=str(tmp_path / "empty")).check_available()
    assert "holds 0 image(s)" in empty and empty.endswith("--option kid_folder.reference_dir=PATH/TO/FFHQ")


def test_unavailable_without_weights(no_weights, reference):
    reason = create_metric("fid_folder", reference_dir=str(reference)).check_available()
    assert reason.startswith("unavailable: ") and reason.endswith("; run bfrbench weights fetch inception_fid")


def test_protocol():
    spec = get_spec("fid_folder")
    assert not spec.full_reference and spec.direction == "lower is better"
    for words in ("pt_inception-2015-12-05-6726825d.pth", "pytorch-fid", "reference_dir", "names and sizes",
                  "CodeFormer", "2x-1"):
        assert words in spec.protocol


@pytest.mark.slow
def test_fid_folder_equals_pytorch_fid_end_to_end(random_inception, reference, tmp_path, monkeypatch,
                                                   random_inception_state):
    """score_folders' fid_folder vs `python -m pytorch_fid PRED REFERENCE` (calculate_fid_given_paths), same random
    weights (2048-d sqrtm: slow)."""
    from bfrbench.engine.scoring import score_folders

    inception = pytest.importorskip("pytorch_fid.inception")
    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: random_inception_state)
    rng = np.random.default_rng(3)
    for i in range(4):
        _write(tmp_path / "pred" / f"{i}.png", rng)
    for name in ("00002.jpg", "00003.webp", "00004.png"):  # one format per folder for pytorch-fid's batches
        (reference / name).unlink()
    ours = score_folders(tmp_path / "pred", metrics=["fid_folder"], progress=False,
                         metric_options={"fid_folder": {"reference_dir": str(reference)}})["metrics"]["fid_folder"]
    theirs = fid_score.calculate_fid_given_paths([str(tmp_path / "pred"), str(reference)], 2, "cpu", 2048, 0)
    assert ours["level"] == "set" and ours["n"] == 4 and ours["n_reference"] == 2
    assert abs(ours["value"] - theirs) / abs(theirs) <= REL_TOL
