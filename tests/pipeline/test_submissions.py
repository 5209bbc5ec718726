"""`bfrbench submit`: a folder of outputs is checked against the test set, copied under submissions/, entered in
params.yaml (its other lines kept), scored by `bfrbench score --submission` like a method, and refused with the
file's name when it does not fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from bfrbench.cli import main
from bfrbench.io.images import write_image

ROOT = Path(__file__).resolve().parents[2]
SIZE = 16


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BFRBENCH_NO_MLFLOW", "1")
    text = (ROOT / "experiments/profiles/smoke.yaml").read_text().replace("\nsize: 128\n", f"\nsize: {SIZE}\n")
    assert f"\nsize: {SIZE}\n" in text
    Path("params.yaml").write_text(text)
    testset = next(iter(yaml.safe_load(text)["testsets"]))
    rng = np.random.default_rng(0)
    for stem in ("a", "b", "c"):
        for sub in ("lq", "hq"):
            write_image(Path("artifacts/testsets") / testset / sub / f"{stem}.png",
                        rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
        write_image(Path("outputs") / f"{stem}.png", rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
    return testset


def _submit(testset, *extra, outputs="outputs"):
    return main(["--no-progress", "submit", "mine", "--testset", testset, "--outputs", outputs, *extra])


def test_submit_copies_enters_and_scores(repo, capsys):
    before = Path("params.yaml").read_text()
    assert _submit(repo, "--description", "my method", "--url", "https://example.org/paper") == 0
    assert sorted(p.name for p in Path("submissions/mine", repo).iterdir()) == ["a.png", "b.png", "c.png"]
    after = Path("params.yaml").read_text()
    entry = yaml.safe_load(after)["submissions"]["mine"]
    assert entry == {"description": "my method", "url": "https://example.org/paper",
                     "outputs": {repo: f"submissions/mine/{repo}"}}
    kept = [ln for ln in before.splitlines() if not ln.startswith("submissions:")]
    assert all(ln in after.splitlines() for ln in kept), "every other line of params.yaml is kept, comments too"
    assert "score_submission@mine" in capsys.readouterr().out
    assert main(["--no-progress", "score", "--submission", "mine", "--metrics", "psnr_rgb"]) == 0
    summary = json.loads(Path("scores/mine", repo, "summary.json").read_text())
    assert summary["metrics"]["psnr_rgb"]["n"] == 3


@pytest.mark.parametrize("damage, needle", [
    (lambda: Path("outputs/c.png").unlink(), "have no output, e.g. c"),
    (lambda: write_image(Path("outputs/zzz.png"), np.zeros((SIZE, SIZE, 3), np.uint8)), "zzz.png"),
    (lambda: Path("outputs/b.png").write_bytes(b"not an image"), "b.png"),
    (lambda: write_image(Path("outputs/a.png"), np.zeros((SIZE * 2, SIZE, 3), np.uint8)), "a.png"),
])
def test_outputs_that_do_not_fit_are_refused_by_name(damage, needle, repo, capsys):
    damage()
    before = Path("params.yaml").read_text()
    assert _submit(repo) == 2
    assert needle in capsys.readouterr().err
    assert not Path("submissions").exists() and Path("params.yaml").read_text() == before, "nothing written"


def test_names_test_sets_and_overwrites_are_checked(repo, capsys):
    assert main(["--no-progress", "submit", "unet_l1", "--testset", repo, "--outputs", "outputs"]) == 2
    assert "method" in capsys.readouterr().err
    assert _submit("no_such_set") == 2 and "no test set named" in capsys.readouterr().err
    assert _submit(repo) == 0
    assert _submit(repo) == 2 and "--overwrite" in capsys.readouterr().err
    assert _submit(repo, "--overwrite") == 0


def test_params_entries_outside_submissions_folder_are_refused(repo, capsys):
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["submissions"] = {"mine": {"outputs": {repo: "elsewhere"}}}
    Path("params.yaml").write_text(yaml.safe_dump(params))
    assert main(["--no-progress", "score", "--submission", "mine"]) == 2
    assert "is not submissions/mine/" in capsys.readouterr().err
