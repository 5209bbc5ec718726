"""`bfrbench testset verify`: tiny synthetic stand-ins of the official sets (the real counts are thousands)."""

import dataclasses
import hashlib
import subprocess
import sys

import numpy as np
import pytest

from bfrbench.data.official_testsets import SUMS_NAME, official_testset, read_sums, verify_testset
from bfrbench.errors import AssetError, ConfigError, ImageError, PairingError
from bfrbench.io.images import write_image

SIZE = 16  # CelebA-Test's 512 px, scaled down for speed


def _image(seed: int, height: int = SIZE, width: int = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _celeba_like(root, count=3):
    for i in range(count):
        write_image(root / "lq" / f"{i:05d}.png", _image(i))
        write_image(root / "hq" / f"{i:05d}.png", _image(100 + i))
    return dataclasses.replace(official_testset("celeba_test"), count=count, size=SIZE)


def _real_like(root, sizes=((20, 24), (20, 24), (33, 31))):
    for i, (h, w) in enumerate(sizes):
        write_image(root / f"face_{i}.jpg", _image(i, h, w))
    return dataclasses.replace(official_testset("lfw_test"), count=len(sizes))


def test_right_paired_set_passes_and_writes_the_sha256_list(tmp_path):
    spec = _celeba_like(tmp_path)
    result = verify_testset(spec, tmp_path, progress=False)
    assert result["sums_written"] and result["count"] == 3 and result["files"] == 6
    sums = read_sums(tmp_path / SUMS_NAME)
    assert sorted(sums) == [f"{side}/{i:05d}.png" for side in ("hq", "lq") for i in range(3)]
    assert sums["lq/00001.png"] == hashlib.sha256((tmp_path / "lq" / "00001.png").read_bytes()).hexdigest()
    before = (tmp_path / SUMS_NAME).read_bytes()
    again = verify_testset(spec, tmp_path, progress=False)  # the second run checks the list and leaves it alone
    assert not again["sums_written"] and (tmp_path / SUMS_NAME).read_bytes() == before


def test_real_set_reports_its_size_distribution(tmp_path):
    spec = _real_like(tmp_path)
    result = verify_testset(spec, tmp_path, progress=False)
    assert result["sizes"] == {"lq": "24x20 x 2, 31x33 x 1"}
    assert sorted(read_sums(tmp_path / SUMS_NAME)) == ["face_0.jpg", "face_1.jpg", "face_2.jpg"]


def test_wrong_count_gives_both_numbers(tmp_path):
    spec = dataclasses.replace(_celeba_like(tmp_path), count=4)
    with pytest.raises(AssetError, match=r"3 LQ/HQ pairs found, CelebA-Test has 4") as info:
        verify_testset(spec, tmp_path, progress=False)
    assert info.value.fix
    assert not (tmp_path / SUMS_NAME).exists(), "nothing written on failure"


def test_webphoto_count_error_explains_407_not_469(tmp_path):
    spec = dataclasses.replace(official_testset("webphoto_test"))
    _real_like(tmp_path)
    with pytest.raises(AssetError, match=r"3 images found, WebPhoto-Test has 407 .*469"):
        verify_testset(spec, tmp_path, progress=False)


def test_undecodable_file_is_named(tmp_path):
    spec = _celeba_like(tmp_path)
    (tmp_path / "hq" / "00002.png").write_bytes(b"not a png")
    with pytest.raises(ImageError, match=r"hq/00002.png") as info:
        verify_testset(spec, tmp_path, progress=False)
    assert info.value.fix
    assert not (tmp_path / SUMS_NAME).exists()


def test_gray_file_is_not_8bit_rgb(tmp_path):
    spec = _real_like(tmp_path)
    import cv2

    cv2.imwrite(str(tmp_path / "face_1.jpg"), np.zeros((20, 24), np.uint8))
    with pytest.raises(ImageError, match=r"face_1.jpg: grayscale"):
        verify_testset(spec, tmp_path, progress=False)


def test_wrong_size_in_a_fixed_size_set_is_named(tmp_path):
    spec = _celeba_like(tmp_path)
    write_image(tmp_path / "lq" / "00001.png", _image(7, SIZE, SIZE + 2))
    with pytest.raises(ImageError, match=rf"lq/00001.png: image is {SIZE + 2}x{SIZE}"):
        verify_testset(spec, tmp_path, progress=False)


def test_unpaired_name_is_named(tmp_path):
    spec = _celeba_like(tmp_path)
    (tmp_path / "hq" / "00002.png").rename(tmp_path / "hq" / "00002_gt.png")
    with pytest.raises(PairingError, match=r"00002(_gt)?\.png") as info:
        verify_testset(spec, tmp_path, progress=False)
    assert "do not pair" in info.value.message and info.value.fix


def test_duplicate_name_is_named(tmp_path):
    spec = _real_like(tmp_path)
    write_image(tmp_path / "face_0.png", _image(9, 20, 24))
    with pytest.raises(PairingError, match=r"face_0"):
        verify_testset(dataclasses.replace(spec, count=4), tmp_path, progress=False)


def test_modified_file_after_the_list_was_written_is_named(tmp_path):
    spec = _celeba_like(tmp_path)
    verify_testset(spec, tmp_path, progress=False)
    write_image(tmp_path / "lq" / "00001.png", _image(55))  # still a valid image, but not the downloaded one
    with pytest.raises(AssetError, match=r"differ from their sha256 .*lq/00001.png") as info:
        verify_testset(spec, tmp_path, progress=False)
    assert "--overwrite" in info.value.fix
    result = verify_testset(spec, tmp_path, overwrite=True, progress=False)  # a deliberate change: a new list
    assert result["sums_written"] and result["sums_replaced"]
    verify_testset(spec, tmp_path, progress=False)


def test_missing_and_extra_files_after_the_list_was_written_are_named(tmp_path):
    spec = _real_like(tmp_path)
    verify_testset(spec, tmp_path, progress=False)
    (tmp_path / "face_2.jpg").rename(tmp_path / "face_9.jpg")
    with pytest.raises(AssetError, match=r"listed in .*SHA256SUMS are missing: .*face_2.jpg"):
        verify_testset(spec, tmp_path, progress=False)
    (tmp_path / "face_9.jpg").rename(tmp_path / "face_2.jpg")
    write_image(tmp_path / "face_3.png", _image(3))
    with pytest.raises(AssetError, match=r"not listed in .*SHA256SUMS: .*face_3.png"):
        verify_testset(spec, tmp_path, progress=False)


def test_damaged_sha256_list_is_named(tmp_path):
    spec = _real_like(tmp_path)
    verify_testset(spec, tmp_path, progress=False)
    (tmp_path / SUMS_NAME).write_text("nonsense\n")
    with pytest.raises(AssetError, match=r"SHA256SUMS:1: not a sha256sum line"):
        verify_testset(spec, tmp_path, progress=False)


def test_unknown_name_and_missing_folder(tmp_path):
    with pytest.raises(ConfigError, match="celebchild_test"):
        official_testset("ffhq")
    with pytest.raises(AssetError, match="no such folder") as info:
        verify_testset(official_testset("wider_test"), tmp_path / "nope", progress=False)
    assert "--root" in info.value.fix


def test_cli_exits_nonzero_with_the_message_and_prints_what_it_checked(tmp_path):
    _real_like(tmp_path / "set")
    cmd = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "testset", "verify"]
    res = subprocess.run([*cmd, "lfw_test", "--root", str(tmp_path / "set")], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "3 images found, LFW-Test has 1,711" in res.stderr and "fix:" in res.stderr
    assert not (tmp_path / "set" / SUMS_NAME).exists()
    # the default root is data/NAME under the working folder
    res = subprocess.run([*cmd, "celebchild_test"], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2 and "data/celebchild_test: no such folder" in res.stderr


def test_cli_passes_a_right_set_and_says_what_it_wrote(tmp_path):
    root = tmp_path / "data" / "celebchild_test"
    for i in range(official_testset("celebchild_test").count):  # 180 tiny faces: the real count, at 8 px
        write_image(root / f"{i:03d}.png", _image(i, 8, 8 + i % 2))
    cmd = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "testset", "verify", "celebchild_test"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "lq sizes (WxH x images): 8x8 x 90, 9x8 x 90" in res.stdout
    assert "verified CelebChild-Test" in res.stdout and "180 LQ images" in res.stdout
    assert f"wrote data/celebchild_test/{SUMS_NAME} (180 sha256 sums" in res.stdout
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0 and "every file matches" in res.stdout
