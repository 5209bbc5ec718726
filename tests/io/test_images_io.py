import numpy as np
import pytest

from bfrbench.errors import ImageError
from bfrbench.io.images import read_image, write_image


def _write_cv2(path, arr):
    import cv2

    assert cv2.imwrite(str(path), arr)
    return path


def test_roundtrip_png(tmp_path, real_face):
    path = write_image(tmp_path / "a.png", real_face)
    assert np.array_equal(read_image(path), real_face)
    assert not list(tmp_path.glob(".*tmp*")), "no temp file left behind"


def test_not_an_image_names_the_file(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    with pytest.raises(ImageError, match="notes.png.*not a readable image"):
        read_image(bad)


def test_empty_and_truncated(tmp_path, real_face):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png.*empty"):
        read_image(empty)
    full = write_image(tmp_path / "full.jpg", real_face).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(ImageError, match="cut.jpg"):
        read_image(cut)


def test_gray_rgba_16bit_refused_then_converted(tmp_path, real_face):
    gray = _write_cv2(tmp_path / "gray.png", real_face[..., 0])
    opaque = np.full(real_face.shape[:2], 255, np.uint8)
    rgba = _write_cv2(tmp_path / "rgba.png", np.dstack([real_face[..., ::-1], opaque]))
    deep = _write_cv2(tmp_path / "deep.png", real_face[..., ::-1].astype(np.uint16) * 257)
    for path, word in ((gray, "grayscale"), (rgba, "alpha"), (deep, "16-bit")):
        with pytest.raises(ImageError, match=f"{path.name}.*{word}") as info:
            read_image(path)
        assert "--convert-images" in str(info.value)
    assert np.array_equal(read_image(gray, convert=True)[..., 1], real_face[..., 0])
    assert np.array_equal(read_image(rgba, convert=True), real_face)
    assert np.array_equal(read_image(deep, convert=True), real_face)


def test_wrong_size_names_both_sizes(tmp_path, real_face):
    path = write_image(tmp_path / "a.png", real_face)
    with pytest.raises(ImageError, match="a.png.*128x128.*expected 64x64"):
        read_image(path, size=64)
