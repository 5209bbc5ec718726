import csv
import subprocess
import sys

import pytest
import yaml

from bfrbench.errors import BFRBenchError
from bfrbench.stages.prepare import prepare_faces


def _params(hq, **extra):
    return {"profile": "test", "seed": 1, "size": 32, "data": {"source": "folder", "folder": {"hq": str(hq), **extra}}}


def test_folder_source_indexes_and_splits(tiny_faces, tmp_path):
    summary = prepare_faces(_params(tiny_faces / "hq", split=[0.5, 0.25, 0.25]), tmp_path / "prepared", progress=False)
    rows = list(csv.DictReader(open(tmp_path / "prepared" / "manifest.csv")))
    assert len(rows) == 20 and sum(summary["faces"].values()) == 20
    assert {r["split"] for r in rows} == {"train", "val", "test"}


def test_corrupt_hq_image_is_named_and_nothing_written(tiny_faces, tmp_path):
    (tiny_faces / "hq" / "broken_face.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(BFRBenchError, match="broken_face.png"):
        prepare_faces(_params(tiny_faces / "hq"), tmp_path / "prepared", progress=False)
    assert not (tmp_path / "prepared").exists()


def test_cli_exit_code_for_corrupt_image(tiny_faces, tmp_path):
    (tiny_faces / "hq" / "broken_face.jpg").write_text("not an image")
    params = _params(tiny_faces / "hq")
    params.update(methods=["lq"], testsets={}, train={})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = subprocess.run([sys.executable, "-m", "bfrbench.cli", "data", "prepare"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "broken_face.jpg" in out.stderr and "Traceback" not in out.stderr


def test_lmdb_source_round_trip(tiny_faces, tmp_path):
    from bfrbench.data.datamodule import BFRDataModule
    from bfrbench.data.faces import face_paths, read_face
    from bfrbench.io.images import read_image
    from bfrbench.stages.prepare import folder_to_lmdb

    folder_to_lmdb(tiny_faces / "hq", tmp_path / "ffhq.lmdb", size=32, progress=False)
    with pytest.raises(BFRBenchError, match="--overwrite"):
        folder_to_lmdb(tiny_faces / "hq", tmp_path / "ffhq.lmdb", progress=False)
    prepare_faces(_params(tmp_path / "ffhq.lmdb", split=[0.5, 0.25, 0.25]), tmp_path / "prepared", progress=False)
    refs = face_paths(tmp_path / "prepared", "train")
    assert refs and all("::" in str(r) for r in refs)
    import numpy as np

    ref = refs[0]
    assert np.array_equal(read_face(ref, size=32), read_image(tiny_faces / "hq" / f"{ref.stem}.png"))
    dm = BFRDataModule(tmp_path / "prepared", 32, "gfpgan", seed=0, batch_size=2)
    dm.setup("fit")
    assert next(iter(dm.train_dataloader()))["hq"].shape == (2, 3, 32, 32)
