"""ids_insightface: buffalo_l is download-only, so code paths run with a STAND-IN pack (a zip holding the offline
MobileFaceNet ONNX under the name w600k_r50.onnx); such numbers only exercise the code, they are not insightface's."""

import zipfile

import numpy as np
import pytest

from bfrbench.errors import AssetError, BFRBenchError
from bfrbench.metrics.ids_insightface import extract_from_zip
from bfrbench.metrics.registry import create_metric, get_spec
from real_face_sets import down_up, real_aligned_faces

pytest.importorskip("insightface")
pytest.importorskip("dlib")


@pytest.fixture
def standin_pack(tmp_path, monkeypatch):
    from bfrbench.metrics.ids_mobilefacenet import mobilefacenet_onnx
    from bfrbench.weights import weights_reason

    if weights_reason("mobilefacenet_faceplugin"):
        pytest.skip(weights_reason("mobilefacenet_faceplugin"))
    onnx = mobilefacenet_onnx()
    folder = tmp_path / "weights"
    folder.mkdir()
    with zipfile.ZipFile(folder / "buffalo_l.zip", "w") as zf:
        zf.write(onnx, "buffalo_l/w600k_r50.onnx")
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    return folder / "buffalo_l.zip"


def test_code_path_with_a_standin_recogniser(standin_pack):
    metric = create_metric("ids_insightface", landmarks="dlib5")
    assert metric.check_available() is None
    f = real_aligned_faces(128)
    pred = np.stack([f[0], f[2], down_up(f[:1], 4)[0]])
    values = metric.score_batch(pred, np.stack([f[0]] * 3))
    assert values[0] == 0.0 and values[1] > values[2] > 0.0
    assert (standin_pack.parent.parent / "cache" / "buffalo_l" / "w600k_r50.onnx").is_file()


def test_detector_missing_from_pack_is_an_asset_error(standin_pack):
    metric = create_metric("ids_insightface")  # default landmarks: det_10g, not in the stand-in pack
    f = real_aligned_faces(128)
    with pytest.raises(AssetError, match="det_10g.onnx"):
        metric.score_batch(f[:1], f[:1])


def test_extract_from_zip_finds_members_in_any_folder(tmp_path):
    archive = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x/y/a.onnx", b"abc")
    out = extract_from_zip(archive, "a.onnx", tmp_path / "out")
    assert out.read_bytes() == b"abc"
    with pytest.raises(AssetError, match="no file b.onnx"):
        extract_from_zip(archive, "b.onnx", tmp_path / "out")


def test_offline_reason_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)
    reason = create_metric("ids_insightface").check_available()
    assert reason.startswith("unavailable: ") and "buffalo_l.zip" in reason
    assert reason.endswith("; run bfrbench weights fetch insightface_buffalo_l")


def test_options_and_protocol():
    with pytest.raises(BFRBenchError, match="unknown landmarks"):
        create_metric("ids_insightface", landmarks="mtcnn")
    protocol = get_spec("ids_insightface").protocol
    assert "w600k_r50.onnx" in protocol and "det_10g" in protocol and "GROUND TRUTH" in protocol
