"""`restore.seeds`: a stochastic method restored with more seeds through the one restore runner, each scored by the
one score runner, mean +- std in seeds/M/T/summary.json and the report; deterministic methods and K = 1 restore
nothing."""

from __future__ import annotations

import json
import shutil

import pytest
from tiny_models import DIFFACE_SAMPLING, folder_bytes, train_tiny, write_lq

pytestmark = pytest.mark.slow

SIZE = 32


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    from conftest import make_face_set

    root = tmp_path_factory.mktemp("seeds")
    train_tiny(root, make_face_set(root / "faces"))
    ts = root / "artifacts" / "testsets" / "syn"
    write_lq(ts / "lq", 6)
    shutil.copytree(ts / "lq", ts / "hq")  # a ground truth for PSNR: the LQ faces themselves
    return root


def _params(k):
    return {"profile": "smoke", "size": SIZE, "seed": 0, "methods": ["difface", "unet_l1"], "testsets": {"syn": {}},
            "restore": {"batch_size": 4, "seeds": k}, "score": {"metrics": ["psnr_rgb"], "batch_size": 4},
            "sampling": {"difface": DIFFACE_SAMPLING, "unet_l1": {}}, "report": {"grid_images": 1}}


def test_three_seeds_of_a_stochastic_method(repo, monkeypatch):
    from bfrbench import paths
    from bfrbench.engine.scoring import score_folders
    from bfrbench.report.seed_spread import seed_spread_section
    from bfrbench.stages.restore import run_restore
    from bfrbench.stages.seeds import run_seeds

    monkeypatch.chdir(repo)
    monkeypatch.setenv("BFRBENCH_NO_MLFLOW", "1")
    params = _params(3)
    lq, hq = paths.testset_dir("syn") / "lq", paths.testset_dir("syn") / "hq"
    run_restore("difface", lq, paths.result_dir("difface", "syn"), paths.model_dir("difface"), batch_size=4,
                progress=False, sampling=DIFFACE_SAMPLING, overwrite=True)  # seed 0, as restore@ makes it
    score_folders(paths.result_dir("difface", "syn"), hq, ["psnr_rgb"], paths.score_dir("difface", "syn"),
                  progress=False, resume=False)
    out = paths.seeds_dir("difface", "syn")
    summary = run_seeds(params, "difface", "syn", out, progress=False)
    psnr = summary["metrics"]["psnr_rgb"]
    assert summary["seeds"] == 3 and psnr["n_seeds"] == 3 and len(set(psnr["values"])) == 3, "each seed its own noise"
    assert psnr["std"] > 0 and min(psnr["values"]) <= psnr["mean"] <= max(psnr["values"])
    seed0 = folder_bytes(paths.result_dir("difface", "syn"))
    assert folder_bytes(out / "seed_1" / "images") != seed0 and set(folder_bytes(out / "seed_2" / "images")) == \
        set(seed0)
    again = run_seeds(params, "difface", "syn", repo / "again", progress=False)
    assert again["metrics"] == summary["metrics"], "a seed's images are the same bytes when restored again"
    md, _ = seed_spread_section("syn", ["difface", "unet_l1"])
    assert "| difface | 3 |" in "\n".join(md) and "±" in "\n".join(md)


@pytest.mark.parametrize("method, k, note", [("unet_l1", 3, "deterministic"), ("difface", 1, "restore.seeds is 1")])
def test_nothing_to_spread(method, k, note, repo, monkeypatch):
    from bfrbench.stages.seeds import run_seeds

    monkeypatch.chdir(repo)
    summary = run_seeds(_params(k), method, "syn", repo / f"none_{method}", progress=False)
    assert note in summary["note"] and "metrics" not in summary
    assert sorted(p.name for p in (repo / f"none_{method}").iterdir()) == ["summary.json"]
    assert json.loads((repo / f"none_{method}" / "summary.json").read_text())["seeds"] == k
