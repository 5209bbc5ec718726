"""`bfrbench data celeba-hq512`: synthetic 1024 px faces -> the bytes DifFace's big2small_face.py would write."""

import csv
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from bfrbench.data.celeba_hq import MANIFEST_NAME, make_celeba_hq512
from bfrbench.errors import BFRBenchError, ImageError, PairingError
from bfrbench.io.images import write_image


def _face(seed: int, size: int = 1024) -> np.ndarray:
    # smooth gradients plus noise: odd and even pixels differ, so a wrong interpolation changes the bytes
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx * 255 // size, yy * 255 // size, (xx + yy) * 255 // (2 * size)], axis=-1)
    return np.clip(base + rng.integers(-40, 41, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def sources(tmp_path):
    src = tmp_path / "CelebA-HQ-img"
    write_image(src / "10.png", _face(0))
    write_image(src / "2.png", _face(1))
    write_image(src / "1.jpg", _face(2))  # CelebAMask-HQ ships JPEGs
    return src


def _official(path) -> bytes:
    """What DifFace's script does with one file: cv2.imread unchanged, BGR->RGB, albumentations SmallestMaxSize(512)
    (cv2.resize INTER_LINEAR), RGB->BGR, cv2.imwrite PNG."""
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    small = cv2.resize(rgb, (512, 512), interpolation=cv2.INTER_LINEAR)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / f"{Path(path).stem}.png"
        assert cv2.imwrite(str(target), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        return target.read_bytes()


def test_faces_are_byte_identical_to_the_official_operation(sources, tmp_path):
    out = tmp_path / "celeba_hq512"
    result = make_celeba_hq512(sources, out, progress=False)
    assert result["count"] == 3
    assert sorted(p.name for p in out.iterdir()) == ["1.png", "10.png", "2.png", MANIFEST_NAME]
    for name, source in (("1.png", "1.jpg"), ("10.png", "10.png"), ("2.png", "2.png")):
        assert (out / name).read_bytes() == _official(sources / source), name
    # a wrong interpolation would not pass: INTER_AREA agrees here (exact halving), INTER_CUBIC does not
    assert not np.array_equal(cv2.resize(_face(0), (512, 512), interpolation=cv2.INTER_CUBIC),
                              cv2.imread(str(out / "10.png"))[:, :, ::-1])


def test_manifest_lists_names_sources_and_sha256_in_sorted_source_order(sources, tmp_path):
    out = tmp_path / "celeba_hq512"
    make_celeba_hq512(sources, out, progress=False)
    rows = list(csv.DictReader(open(out / MANIFEST_NAME)))
    assert [(r["name"], r["source"]) for r in rows] == [("1.png", "1.jpg"), ("10.png", "10.png"), ("2.png", "2.png")]
    for row in rows:
        assert row["sha256"] == hashlib.sha256((out / row["name"]).read_bytes()).hexdigest()


def test_refuses_to_overwrite_without_the_flag(sources, tmp_path):
    out = tmp_path / "celeba_hq512"
    make_celeba_hq512(sources, out, progress=False)
    (out / "2.png").write_bytes(b"edited")
    with pytest.raises(BFRBenchError, match="--overwrite"):
        make_celeba_hq512(sources, out, progress=False)
    assert (out / "2.png").read_bytes() == b"edited", "left as it was"
    make_celeba_hq512(sources, out, overwrite=True, progress=False)
    assert (out / "2.png").read_bytes() == _official(sources / "2.png")


def test_wrong_size_source_is_named_and_nothing_is_written(tmp_path):
    src = tmp_path / "src"
    write_image(src / "0.png", _face(0, 64))
    with pytest.raises(ImageError, match=r"0.png: image is 64x64 \(WxH\), CelebA-HQ images are 1024x1024") as info:
        make_celeba_hq512(src, tmp_path / "out", progress=False)
    assert "--src" in info.value.fix
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"], "no temporary folder left behind"


def test_undecodable_or_duplicate_source_is_named(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "7.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageError, match=r"7.jpg"):
        make_celeba_hq512(src, tmp_path / "out", progress=False)
    (src / "7.jpg").unlink()
    write_image(src / "3.png", _face(3, 16))
    write_image(src / "3.jpg", _face(3, 16))
    with pytest.raises(PairingError, match=r"'3' is 3.jpg, 3.png"):
        make_celeba_hq512(src, tmp_path / "out", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="empty: no images found"):
        make_celeba_hq512(tmp_path / "empty", tmp_path / "out", progress=False)


def test_cli_writes_and_refuses_bad_input_with_a_nonzero_exit(tmp_path):
    src = tmp_path / "src"
    write_image(src / "0.png", _face(0))
    cmd = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "data", "celeba-hq512", "--src", str(src)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)  # default --out: data/celeba_hq512
    assert res.returncode == 0, res.stderr
    assert "wrote 1 faces at 512 px" in res.stdout and "data/celeba_hq512/manifest.csv" in res.stdout
    assert (tmp_path / "data" / "celeba_hq512" / "0.png").read_bytes() == _official(src / "0.png")
    write_image(src / "1.png", _face(1, 32))
    res = subprocess.run([*cmd, "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "1.png: image is 32x32" in res.stderr and "fix:" in res.stderr
    assert not (tmp_path / "out").exists()
