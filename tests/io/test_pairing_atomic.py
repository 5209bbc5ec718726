import numpy as np
import pytest

from bfrbench.errors import BFRBenchError, PairingError
from bfrbench.io.atomic import atomic_dir, write_text_atomic
from bfrbench.io.images import write_image
from bfrbench.io.pairing import pair_by_stem


def _img():
    return np.zeros((8, 8, 3), np.uint8)


def test_pairs_by_name_not_position(tmp_path):
    (tmp_path / "p").mkdir(), (tmp_path / "g").mkdir()
    for name in ("b", "a", "c"):
        write_image(tmp_path / "p" / f"{name}.png", _img())
    for name in ("a", "b", "c"):
        write_image(tmp_path / "g" / f"{name}.jpg", _img())
    pairs = pair_by_stem(tmp_path / "p", tmp_path / "g")
    assert [(s, p.name, g.name) for s, p, g in pairs] == [("a", "a.png", "a.jpg"), ("b", "b.png", "b.jpg"),
                                                          ("c", "c.png", "c.jpg")]


def test_unpaired_and_duplicates_fail_clearly(tmp_path):
    (tmp_path / "p").mkdir(), (tmp_path / "g").mkdir()
    write_image(tmp_path / "p" / "a.png", _img())
    write_image(tmp_path / "p" / "extra.png", _img())
    write_image(tmp_path / "g" / "a.png", _img())
    with pytest.raises(PairingError, match="extra.png"):
        pair_by_stem(tmp_path / "p", tmp_path / "g")
    write_image(tmp_path / "g" / "extra.png", _img())
    write_image(tmp_path / "g" / "extra.jpg", _img())
    with pytest.raises(PairingError, match="duplicate.*extra"):
        pair_by_stem(tmp_path / "p", tmp_path / "g")


def test_atomic_dir_keeps_old_output_on_failure_and_refuses_overwrite(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "x.txt").write_text("1")
    with pytest.raises(BFRBenchError, match="--overwrite"):
        with atomic_dir(out):
            pass
    with pytest.raises(RuntimeError):
        with atomic_dir(out, overwrite=True) as tmp:
            (tmp / "x.txt").write_text("2")
            raise RuntimeError("crash mid-write")
    assert (out / "x.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "y.txt").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["y.txt"]


def test_write_text_atomic(tmp_path):
    path = write_text_atomic(tmp_path / "sub" / "f.txt", "hi")
    assert path.read_text() == "hi"
