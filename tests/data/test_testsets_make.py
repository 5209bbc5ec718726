import csv
import hashlib
import json

import numpy as np
import pytest

from bfrbench.data.degradation import DegradationParams, apply_degradation
from bfrbench.errors import BFRBenchError, ConfigError
from bfrbench.io.images import read_image
from bfrbench.stages.testsets import make_testset

PARAMS = {"seed": 11, "size": 32}


def test_synthetic_set_is_reproducible_and_self_describing(tiny_faces, tmp_path):
    spec = {"kind": "synthetic", "source_split": "test", "degradation": {"preset": "codeformer_stage2"}}
    meta = make_testset("s", spec, PARAMS, tiny_faces, tmp_path / "a", progress=False)
    make_testset("s", spec, PARAMS, tiny_faces, tmp_path / "b", progress=False)
    assert meta["count"] == 4 and meta["has_gt"] and meta["seed"] == 11
    names_a = sorted(p.name for p in (tmp_path / "a" / "lq").iterdir())
    assert names_a == sorted(p.name for p in (tmp_path / "a" / "hq").iterdir())
    for name in names_a:
        assert (tmp_path / "a" / "lq" / name).read_bytes() == (tmp_path / "b" / "lq" / name).read_bytes()
    rows = list(csv.DictReader(open(tmp_path / "a" / "manifest.csv")))
    for row in rows:
        lq_bytes = (tmp_path / "a" / "lq" / f"{row['name']}.png").read_bytes()
        assert hashlib.sha256(lq_bytes).hexdigest() == row["lq_sha256"]
        # the manifest's parameters regenerate the LQ exactly
        params = DegradationParams.from_dict(json.loads(row["params"]))
        hq = read_image(tmp_path / "a" / "hq" / f"{row['name']}.png")
        assert np.array_equal(apply_degradation(hq, params), read_image(tmp_path / "a" / "lq" / f"{row['name']}.png"))


def test_existing_output_is_not_overwritten(tiny_faces, tmp_path):
    spec = {"kind": "synthetic", "degradation": "gfpgan"}
    make_testset("s", spec, PARAMS, tiny_faces, tmp_path / "a", progress=False)
    with pytest.raises(BFRBenchError, match="--overwrite"):
        make_testset("s", spec, PARAMS, tiny_faces, tmp_path / "a", progress=False)
    make_testset("s", spec, PARAMS, tiny_faces, tmp_path / "a", overwrite=True, progress=False)


def test_folder_and_real_kinds(tiny_faces, tmp_path):
    hq = tiny_faces / "hq"
    meta = make_testset("f", {"kind": "folder", "lq": str(hq), "hq": str(hq)}, PARAMS, tiny_faces, tmp_path / "f",
                        progress=False)
    assert meta["count"] == 20 and meta["has_gt"]
    meta = make_testset("r", {"kind": "real", "lq": str(hq), "limit": 3}, PARAMS, tiny_faces, tmp_path / "r",
                        progress=False)
    assert meta["count"] == 3 and not meta["has_gt"] and not (tmp_path / "r" / "hq").exists()


def test_bad_face_in_folder_is_named(tiny_faces, tmp_path):
    (tiny_faces / "hq" / "zz_broken.png").write_bytes(b"not a png")
    with pytest.raises(BFRBenchError, match="zz_broken.png"):
        make_testset("r", {"kind": "real", "lq": str(tiny_faces / "hq")}, PARAMS, tiny_faces, tmp_path / "r",
                     progress=False)
    assert not (tmp_path / "r").exists(), "nothing half-written"


def test_bad_kind():
    with pytest.raises(ConfigError, match="kind"):
        make_testset("x", {"kind": "nope"}, PARAMS, None, None)


def test_standalone_cli_generators(tiny_faces, tmp_path):
    import subprocess
    import sys

    for cmd in (["synthetic", "--preset", "difface"], ["difface-grid"]):
        out = tmp_path / cmd[0]
        res = subprocess.run([sys.executable, "-m", "bfrbench.cli", "--no-progress", "testset", *cmd, "--hq",
                              str(tiny_faces / "hq"), "--out", str(out), "--size", "32", "--limit", "3"],
                             capture_output=True, text=True, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert len(list((out / "lq").glob("*.png"))) == 3 and (out / "manifest.csv").is_file()
        assert "wrote 3 LQ/HQ pairs" in res.stdout
