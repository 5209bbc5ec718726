"""`bfrbench score --pred DIR --gt DIR --out DIR`: the documented one-command scoring of an external folder."""

import json
import subprocess
import sys

import numpy as np

from bfrbench.io.images import write_image


def test_score_external_folders(tmp_path, real_face):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    for i in range(2):
        write_image(gt / f"face{i}.png", real_face)
        noisy = np.clip(real_face.astype(int) + np.random.default_rng(i).integers(-9, 10, real_face.shape), 0, 255)
        write_image(pred / f"face{i}.png", noisy.astype(np.uint8))
    env_cmd = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "score", "--pred", str(pred), "--gt", str(gt),
               "--out", str(tmp_path / "out"), "--metrics", "psnr_rgb", "ssim_y"]
    out = subprocess.run(env_cmd, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "wrote" in out.stdout and "metrics.json" in out.stdout
    flat = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(flat) == {"psnr_rgb", "ssim_y"} and 25 < flat["psnr_rgb"] < 40


def test_score_unpaired_fails_with_names(tmp_path, real_face):
    write_image(tmp_path / "pred" / "a.png", real_face)
    write_image(tmp_path / "gt" / "b.png", real_face)
    out = subprocess.run([sys.executable, "-m", "bfrbench.cli", "score", "--pred", str(tmp_path / "pred"), "--gt",
                          str(tmp_path / "gt"), "--out", str(tmp_path / "out")], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 2 and "a.png" in out.stderr and "b.png" in out.stderr
    assert not (tmp_path / "out" / "summary.json").exists()


def test_metric_options_are_parsed_and_checked():
    import pytest

    from bfrbench.commands import _metric_options
    from bfrbench.errors import BFRBenchError

    assert _metric_options(["frechet_dlib.reference_dir=/x", "ids_arcface_r18.vqfr_drop_under_1deg=true"]) == {
        "frechet_dlib": {"reference_dir": "/x"}, "ids_arcface_r18": {"vqfr_drop_under_1deg": True}}
    with pytest.raises(BFRBenchError, match="METRIC.KEY=VALUE"):
        _metric_options(["frechet_dlib"])
    with pytest.raises(BFRBenchError, match="unknown metric"):
        _metric_options(["no_such_metric.k=1"])
