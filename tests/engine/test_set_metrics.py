"""Set-level metrics in score_folders: same single pass, summary entry marked "set", no CSV column, exact resume,
options (reference folder), and FID reported unavailable (never a number) without its weights."""

import json
import subprocess
import sys

import pytest

from bfrbench.engine import scoring
from bfrbench.engine.feature_store import feature_dir
from bfrbench.engine.scoring import NOT_APPLICABLE_NO_GT, PARTIAL_CSV, score_folders
from bfrbench.errors import BFRBenchError
from bfrbench.io.images import write_image
from bfrbench.metrics.registry import create_metric

pytest.importorskip("dlib")
pytest.importorskip("face_recognition_models")
from real_face_sets import down_up, real_aligned_faces

METRICS = ["psnr_rgb", "frechet_dlib"]


@pytest.fixture(scope="module")
def faces():
    gt = real_aligned_faces(128)
    return gt, down_up(gt, 4)


@pytest.fixture
def folders(tmp_path, faces):
    gt, pred = faces
    for i, (g, p) in enumerate(zip(gt, pred)):
        write_image(tmp_path / "gt" / f"face_{i}.png", g)
        write_image(tmp_path / "pred" / f"face_{i}.png", p)
    return tmp_path / "pred", tmp_path / "gt"


def run(pred_dir, gt_dir, out, **kw):
    kw.setdefault("metrics", METRICS)
    kw.setdefault("progress", False)
    return score_folders(pred_dir, gt_dir, out_dir=out, **kw)


def test_set_metric_in_the_same_pass(folders, faces, tmp_path, monkeypatch):
    pred_dir, gt_dir = folders
    reads = []
    real_read = scoring.read_image
    monkeypatch.setattr(scoring, "read_image", lambda path, **kw: reads.append(path) or real_read(path, **kw))
    summary = run(pred_dir, gt_dir, tmp_path / "out", batch_size=3)
    assert len(reads) == 8  # every pred and GT file decoded once, shared by the per-image and the set metric

    entry = summary["metrics"]["frechet_dlib"]
    gt, pred = faces
    metric = create_metric("frechet_dlib")
    direct = metric.compute_from_features(metric.image_features(pred, gt))["value"]
    assert entry["value"] == direct and entry["n"] == 4 and entry["level"] == "set"
    assert entry["direction"] == "lower is better" and "NOT FID" in entry["protocol"]
    assert summary["set_level_metrics"] == ["frechet_dlib"]

    header = (tmp_path / "out/per_image.csv").read_text().splitlines()[0]
    assert header == "stem,psnr_rgb"  # no column for a set-level metric
    on_disk = json.loads((tmp_path / "out/summary.json").read_text())
    assert on_disk["metrics"]["frechet_dlib"]["level"] == "set"
    assert not feature_dir(tmp_path / "out", "frechet_dlib").exists()


def test_batch_size_does_not_change_the_value(folders, tmp_path):
    pred_dir, gt_dir = folders
    a = run(pred_dir, gt_dir, None, batch_size=1)["metrics"]["frechet_dlib"]["value"]
    b = run(pred_dir, gt_dir, None, batch_size=4)["metrics"]["frechet_dlib"]["value"]
    assert a == b


def test_resume_gives_the_same_value(folders, tmp_path, monkeypatch):
    pred_dir, gt_dir = folders
    run(pred_dir, gt_dir, tmp_path / "whole", batch_size=2)

    real = scoring._score_batch
    calls = []

    def crash_on_second_batch(batch, *args):
        calls.append(len(batch))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(batch, *args)

    monkeypatch.setattr(scoring, "_score_batch", crash_on_second_batch)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run(pred_dir, gt_dir, out, batch_size=2)
    parts = list(feature_dir(out, "frechet_dlib").glob("part_*.npz"))
    assert len(parts) == 1 and (out / PARTIAL_CSV).is_file()
    calls.clear()
    monkeypatch.setattr(scoring, "_score_batch", lambda batch, *a: calls.append(len(batch)) or real(batch, *a))
    run(pred_dir, gt_dir, out, batch_size=2)

    assert sum(calls) == 2  # the first two faces were not embedded again
    whole = json.loads((tmp_path / "whole/summary.json").read_text())
    resumed = json.loads((out / "summary.json").read_text())
    assert "created" not in whole and "created" not in resumed
    assert resumed == whole
    assert not feature_dir(out, "frechet_dlib").exists() and not (out / PARTIAL_CSV).exists()


def test_rows_without_features_are_scored_again(folders, tmp_path, monkeypatch):
    """A crash after the CSV row but with the feature part lost must not leave a hole in the set."""
    pred_dir, gt_dir = folders
    real = scoring._score_batch
    calls = []

    def crash_on_second_batch(batch, *args):
        calls.append(len(batch))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(batch, *args)

    monkeypatch.setattr(scoring, "_score_batch", crash_on_second_batch)
    out = tmp_path / "s"
    with pytest.raises(KeyboardInterrupt):
        run(pred_dir, gt_dir, out, batch_size=2)
    for part in feature_dir(out, "frechet_dlib").glob("part_*.npz"):
        part.unlink()
    calls.clear()
    monkeypatch.setattr(scoring, "_score_batch", lambda batch, *a: calls.append(len(batch)) or real(batch, *a))
    summary = run(pred_dir, gt_dir, out, batch_size=2)
    assert sum(calls) == 4 and summary["metrics"]["frechet_dlib"]["n"] == 4


def test_no_gt_needs_a_reference_folder(folders, tmp_path):
    pred_dir, gt_dir = folders
    plain = run(pred_dir, None, None, metrics=["frechet_dlib"])
    assert plain["metrics"]["frechet_dlib"] == {"unavailable": NOT_APPLICABLE_NO_GT}
    with_ref = run(pred_dir, None, tmp_path / "out", metrics=["frechet_dlib"],
                   metric_options={"frechet_dlib": {"reference_dir": str(gt_dir)}})
    entry = with_ref["metrics"]["frechet_dlib"]
    against_gt = run(pred_dir, gt_dir, None, metrics=["frechet_dlib"])["metrics"]["frechet_dlib"]
    # Same images on the reference side, embedded the same way: the same distance.
    assert entry["value"] == pytest.approx(against_gt["value"], rel=1e-12)
    assert entry["options"] == {"reference_dir": str(gt_dir.resolve())} and entry["n_reference"] == 4


def test_options_for_unselected_metrics_are_refused(folders):
    pred_dir, gt_dir = folders
    with pytest.raises(BFRBenchError, match="not selected"):
        run(pred_dir, gt_dir, None, metrics=["psnr_rgb"], metric_options={"frechet_dlib": {"reference_dir": "x"}})


def test_one_image_is_not_a_set(folders, tmp_path):
    pred_dir, gt_dir = folders
    for i in (1, 2, 3):
        (pred_dir / f"face_{i}.png").unlink()
        (gt_dir / f"face_{i}.png").unlink()
    entry = run(pred_dir, gt_dir, None)["metrics"]["frechet_dlib"]
    assert entry == {"unavailable": "set-level metric needs at least 2 images, got 1"}


def test_fid_is_unavailable_offline_never_a_number(folders, tmp_path, monkeypatch):
    pred_dir, gt_dir = folders
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(tmp_path / "none"))
    summary = run(pred_dir, gt_dir, tmp_path / "out", metrics=["fid_ffhq512", "fid_gt", "fid_clean", "psnr_rgb"])
    for name in ("fid_ffhq512", "fid_gt", "fid_clean"):
        entry = summary["metrics"][name]
        assert set(entry) == {"unavailable"}
        assert entry["unavailable"].startswith("unavailable: ")
        assert "; run bfrbench weights fetch inception_fid" in entry["unavailable"]
    assert summary["set_level_metrics"] == []


@pytest.mark.slow  # a fresh CLI process with MLflow: ~10-35 s here
def test_cli_prints_unavailable_fid_and_writes_no_number(folders, tmp_path):
    pred_dir, gt_dir = folders
    env = {"BFRBENCH_CACHE": str(tmp_path / "cache"), "BFRBENCH_WEIGHTS_DIR": str(tmp_path / "none"),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"}
    cmd = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "score", "--pred", str(pred_dir), "--gt", str(gt_dir),
           "--out", str(tmp_path / "out"), "--metrics", "fid_gt", "frechet_dlib"]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "unavailable: " in out.stdout and "bfrbench weights fetch inception_fid" in out.stdout
    flat = json.loads((tmp_path / "out/metrics.json").read_text())
    assert set(flat) == {"frechet_dlib"} and flat["frechet_dlib"] > 0
