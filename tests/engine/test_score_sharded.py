"""Scoring on 2 CPU processes (Lightning DDP over gloo, through the real CLI) gives the 1-process per_image.csv and
summary, set-level metric (dlib Fréchet distance) included; a 1-process run that crashed resumes on 2 processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bfrbench.engine import scoring
from bfrbench.engine.scoring import PARTIAL_CSV, score_folders
from bfrbench.io.images import write_image

pytest.importorskip("dlib")
pytest.importorskip("face_recognition_models")
from real_face_sets import down_up, real_aligned_faces  # noqa: E402

pytestmark = pytest.mark.slow
METRICS = ["psnr_rgb", "ssim_rgb", "frechet_dlib"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    gt = real_aligned_faces(128)
    for factor, block in ((4, 0), (2, 1)):  # 8 pairs: every face degraded twice
        for i, (g, p) in enumerate(zip(gt, down_up(gt, factor))):
            write_image(root / "gt" / f"face_{block}{i}.png", g)
            write_image(root / "pred" / f"face_{block}{i}.png", p)
    return root / "pred", root / "gt"


def _score(pred, gt, out, *extra, cwd):
    cmd = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "score", "--pred", str(pred), "--gt", str(gt),
           "--out", str(out), "--metrics", *METRICS, "--batch-size", "1", *extra]
    env = {**os.environ, "BFRBENCH_NO_MLFLOW": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _summary(out):
    summary = json.loads((out / "summary.json").read_text())
    assert "created" not in summary, "no time stamp in a file DVC hashes"
    return summary


def test_two_processes_give_the_one_process_summary(folders, tmp_path):
    pred, gt = folders
    one = _score(pred, gt, tmp_path / "one", cwd=tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    two = _score(pred, gt, tmp_path / "two", "--devices", "2", cwd=tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("wrote ") == 1, "rank 1 reports nothing"
    assert (tmp_path / "two/per_image.csv").read_bytes() == (tmp_path / "one/per_image.csv").read_bytes()
    a, b = _summary(tmp_path / "one"), _summary(tmp_path / "two")
    assert b == a
    assert b["metrics"]["frechet_dlib"]["level"] == "set" and b["metrics"]["frechet_dlib"]["n"] == 8
    assert (tmp_path / "two/metrics.json").read_bytes() == (tmp_path / "one/metrics.json").read_bytes()
    assert not [p for p in (tmp_path / "two").iterdir() if p.name.startswith(".")], "partial files are removed"


def test_a_crashed_one_process_score_resumes_on_two(folders, tmp_path, monkeypatch):
    pred, gt = folders
    ref = _score(pred, gt, tmp_path / "ref", cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr[-3000:]
    real, calls = scoring._score_batch, []

    def crash_on_fourth_batch(batch, *args):
        calls.append(batch)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(batch, *args)

    monkeypatch.setattr(scoring, "_score_batch", crash_on_fourth_batch)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        score_folders(pred, gt, METRICS, out, batch_size=1, progress=False)
    assert (out / PARTIAL_CSV).is_file() and not (out / "per_image.csv").exists()
    resumed = _score(pred, gt, out, "--devices", "2", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (out / "per_image.csv").read_bytes() == (tmp_path / "ref/per_image.csv").read_bytes()
    assert _summary(out) == _summary(tmp_path / "ref")
