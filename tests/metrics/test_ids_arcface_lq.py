"""ids_arcface_r18_lq: the ArcFace angle between each restored face and its LQ input (sets without ground truth).
The official weights are download-only: the network runs with RANDOM weights, to check the pairing by stem, the
engine path without ground truth and the equality with ids_arcface_r18's measurement; never a reported number."""

import cv2
import numpy as np
import pytest
import torch

from bfrbench.errors import BFRBenchError, PairingError
from bfrbench.io.images import write_image
from bfrbench.metrics.registry import create_metric, get_spec
from bfrbench.nets.arcface_resnet import ArcFaceResNet18


@pytest.fixture
def random_vqfr_arcface(tmp_path, monkeypatch):
    """RANDOM weights under resnet18_110.pth's name and format (test only: the entry has no official sha256)."""
    torch.manual_seed(2)
    net = ArcFaceResNet18()
    for m in net.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, folder / "resnet18_110.pth")
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    return net.eval()


@pytest.fixture
def real_set(real_face, tmp_path):
    """A 'real LQ set': 64 px LQ faces (no ground truth) and 128 px restorations named after them."""
    lq_small = cv2.resize(real_face, (64, 64), interpolation=cv2.INTER_AREA)
    lq_other = np.ascontiguousarray(lq_small[:, ::-1])
    restored = [cv2.resize(lq_small, (128, 128), interpolation=cv2.INTER_CUBIC), real_face]
    for stem, lq, out in (("a", lq_small, restored[0]), ("b", lq_other, restored[1])):
        write_image(tmp_path / "lq" / f"{stem}.png", lq)
        write_image(tmp_path / "restored" / f"{stem}.png", out)
    return tmp_path / "lq", tmp_path / "restored", [lq_small, lq_other], np.stack(restored)


def test_equals_ids_arcface_r18_with_the_lq_in_the_ground_truths_place(random_vqfr_arcface, real_set, tmp_path):
    _, _, lq, restored = real_set
    same_size = [cv2.resize(x, (128, 128), interpolation=cv2.INTER_CUBIC) for x in lq]
    for stem, image in zip("ab", same_size, strict=True):
        write_image(tmp_path / "lq128" / f"{stem}.png", image)
    metric = create_metric("ids_arcface_r18_lq", lq_dir=str(tmp_path / "lq128"))
    values = metric.score_stems(["a", "b"], restored, None)
    expected = create_metric("ids_arcface_r18").score_batch(restored, np.stack(same_size))
    # Bound: the same preprocessing and network; only the batches differ (4 images vs 2 + 2; eval BN: float rounding,
    # measured < 1e-5 deg), 1e-3 deg on any x86 CPU.
    np.testing.assert_allclose(values, expected, atol=1e-3)
    # restored "a" IS its upscaled LQ: the best possible score, which is why this is no identity error
    assert values[0] < 1e-3 and values[1] > 1


def test_lq_of_another_size_paired_by_stem(random_vqfr_arcface, real_set):
    from bfrbench.metrics.ids_arcface import angle_degrees

    lq_dir, _, lq, restored = real_set
    metric = create_metric("ids_arcface_r18_lq", lq_dir=str(lq_dir))
    assert metric.check_available() is None
    values = metric.score_stems(["b", "a"], restored[::-1].copy(), None)  # order follows the stems given
    expected = angle_degrees(metric.embed(restored[::-1].copy()), metric.embed([lq[1], lq[0]]))
    np.testing.assert_array_equal(values, expected)
    assert metric.score_stems(["a"], restored[:1], None)[0] == pytest.approx(values[1], abs=1e-3)  # batch rounding


def test_missing_lq_image_is_a_pairing_error(random_vqfr_arcface, real_set):
    lq_dir, _, _, restored = real_set
    metric = create_metric("ids_arcface_r18_lq", lq_dir=str(lq_dir))
    with pytest.raises(PairingError, match="no LQ image for restored image 'zz'"):
        metric.score_stems(["a", "zz"], restored, None)
    with pytest.raises(BFRBenchError, match="score_stems"):
        metric.score_batch(restored, None)


def test_scored_by_the_engine_without_ground_truth(random_vqfr_arcface, real_set, tmp_path):
    from bfrbench.engine import scoring

    lq_dir, restored_dir, _, restored = real_set
    options = {"ids_arcface_r18_lq": {"lq_dir": str(lq_dir)}}
    summary = scoring.score_folders(restored_dir, None, metrics=["ids_arcface_r18_lq", "ids_arcface_r18"],
                                    out_dir=tmp_path / "scores", metric_options=options, progress=False)
    entry = summary["metrics"]["ids_arcface_r18_lq"]
    direct = create_metric("ids_arcface_r18_lq", lq_dir=str(lq_dir)).score_stems(["a", "b"], restored, None)
    assert entry["n"] == 2 and entry["value"] == pytest.approx(direct.mean(), abs=1e-3)  # batch rounding only
    assert entry["options"]["lq_dir"] == str(lq_dir.resolve()) and len(entry["options"]["lq_files_sha256"]) == 64
    assert summary["metrics"]["ids_arcface_r18"] == {"unavailable": scoring.NOT_APPLICABLE_NO_GT}
    # Its LQ folder (names and contents) is part of the resume key; metrics without options leave the key as it was.
    metric = create_metric("ids_arcface_r18_lq", lq_dir=str(lq_dir))
    settings = scoring._settings(restored_dir, None, ["ids_arcface_r18_lq"], False, None, {},
                                 {"ids_arcface_r18_lq": metric})
    assert settings["metric_settings"]["ids_arcface_r18_lq"] == metric.settings()
    write_image(lq_dir / "a.png", np.zeros((64, 64, 3), np.uint8))
    changed = create_metric("ids_arcface_r18_lq", lq_dir=str(lq_dir)).settings()
    assert changed["lq_files_sha256"] != metric.settings()["lq_files_sha256"]
    psnr = {"psnr_rgb": create_metric("psnr_rgb")}
    plain = scoring._settings(restored_dir, None, ["psnr_rgb"], False, None, {}, psnr)
    assert "metric_settings" not in plain


def test_unavailable_reasons(no_weights, tmp_path):
    reason = create_metric("ids_arcface_r18_lq", lq_dir=str(tmp_path)).check_available()
    assert reason.startswith("unavailable: ") and reason.endswith("; run bfrbench weights fetch arcface_resnet18_vqfr")


def test_unavailable_without_the_lq_folder(random_vqfr_arcface, tmp_path):
    reason = create_metric("ids_arcface_r18_lq").check_available()
    assert reason.startswith("unavailable: ") and "needs the LQ folder" in reason
    assert reason.endswith("--option ids_arcface_r18_lq.lq_dir=PATH/TO/LQ")
    assert "does not exist" in create_metric("ids_arcface_r18_lq", lq_dir=str(tmp_path / "no")).check_available()


def test_registered_as_no_reference_and_documented_as_what_it_is():
    spec = get_spec("ids_arcface_r18_lq")
    assert not spec.full_reference and spec.unit == "deg" and spec.direction == "lower is better"
    for words in ("LQ INPUT", "NOT an identity error", "lq_dir", "resnet18_110.pth", "not comparable"):
        assert words in spec.protocol, words
