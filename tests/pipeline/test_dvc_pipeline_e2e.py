"""The whole `dvc repro` graph at minimal size in a temporary git repository, on the real smoke faces."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bfrbench.config import tiny_config_path
from test_stage_deps import RECORD_ENV, assert_deps_cover_imports, install_shim  # same folder (rootdir imports)

# minutes: ~14 on 2 cores (the repro ~12): tests/conftest.py starts the longest files first
pytestmark = pytest.mark.slow(minutes=14)

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd, cwd, env, timeout=2400):  # a whole tiny repro: ~10 min on 2 cores, more on a loaded box
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "experiments", repo / "experiments")
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = yaml.safe_load((ROOT / "experiments/profiles/smoke.yaml").read_text())  # pinned: params.yaml may differ
    params["size"] = 64
    for spec in params["testsets"].values():
        spec["limit"] = 4
    params["report"]["grid_images"] = 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # Each smoke stage config has a `_tiny.yaml` sibling (checked by test_config_profiles): train at seconds scale.
    for entry in params["train"].values():
        shutil.copy(ROOT / tiny_config_path(entry["config"]), repo / entry["config"])
    for config in (params.get("flipnet") or {}).values():  # FLIPNET's degrade/realism and +O/F configs
        shutil.copy(ROOT / tiny_config_path(config), repo / config)
    # `bfrbench` on PATH is a shim that records the bfrbench modules each stage imports (test_stage_deps.py).
    shim_bin, imports = tmp_path_factory.mktemp("shim"), tmp_path_factory.mktemp("imports")
    install_shim(shim_bin)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", RECORD_ENV: str(imports),
           "PATH": f"{shim_bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    _run(["git", "init", "-q"], repo, env)
    _run(["dvc", "init", "-q"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "init"], repo, env)
    return repo, env, params


def _table_rows(md: str, testset: str) -> list[list[str]]:
    section = md.split(f"## {testset}\n", 1)[1].split("\n## ", 1)[0]
    # The leaderboard is the first table of the section (quoted numbers and FLIPNET tables may follow it).
    table = section.split("| method", 1)[1].split("\n\n", 1)[0]
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def test_repro_fills_every_cell_and_is_idempotent(repo):
    repo, env, params = repo
    _run(["dvc", "repro"], repo, env)
    md = (repo / "reports" / "leaderboard.md").read_text()
    assert (repo / "reports" / "leaderboard.html").is_file()
    for testset in params["testsets"]:
        rows = _table_rows(md, testset)
        assert sorted(r[0] for r in rows) == sorted(params["methods"])
        section = md.split(f"## {testset}\n", 1)[1].split("\n## ", 1)[0]
        header = [c.strip().split(" ")[0] for c in section.split("| method", 1)[1].split("\n", 1)[0].split("|")[1:-1]]
        assert header[-1] == "NFE", header
        for row in rows:
            assert re.fullmatch(r"\d+", row[-1]), f"{row[0]}: NFE {row[-1]}"
            for metric, cell in zip(header[:-1], row[1:-1]):
                if cell == "unavailable":
                    # Only metrics whose weights cannot be fetched here, each with the command that fixes it.
                    reason = re.search(rf"^- {re.escape(metric)} \(.*\): (.*)$", section, re.M)
                    assert reason and "run bfrbench weights fetch" in reason.group(1), f"{testset}/{metric}: {section}"
                    continue
                # " †": a Frechet distance on fewer images than feature dimensions (every one on these 4-face sets)
                assert re.fullmatch(r"(\*{0,2}-?\d+\.\d+\*{0,2}|inf)( †)?", cell), f"{testset}/{row[0]}: cell {cell!r}"
        assert (repo / "reports" / f"grid_{testset}.png").is_file()
    assert "Protocols" in md and "psnr_y" in md
    reports = repo / "reports"
    csv = (reports / "leaderboard.csv").read_text().splitlines()
    assert csv[0] == "testset,method,metric,value,higher_better,n,status" and len(csv) > len(params["methods"])
    assert list(reports.glob("pd_*.svg")) and list((reports / "curves").glob("*.csv")), "plots and curve tables"
    assert 'class="board"' in (reports / "leaderboard.html").read_text()
    if shutil.which("pdflatex"):  # tests/report/test_render.py compiles a fixed one; this is the real one
        (repo / "tex").mkdir()
        done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-output-directory",
                               str(repo / "tex"), str(reports / "leaderboard.tex")], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout[-3000:]
    shown = subprocess.run(["dvc", "plots", "show", "--json"], cwd=repo, env=env, capture_output=True, text=True,
                           timeout=600)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "curve.json" in shown.stdout, "dvc plots show reads the training curves"
    speed = (repo / "speed" / "speed.md").read_text()  # timings: beside, not in what DVC hashes
    for method in params["methods"]:
        assert re.search(rf"^\| {re.escape(method)} \| \d+\.\d+ \|", speed, re.M), f"{method}: no s/img in {speed}"
    again = _run(["dvc", "repro"], repo, env)
    assert "Data and pipelines are up to date" in again, again
    assert "Running stage" not in again

    import mlflow

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["bfrbench-smoke"], output_format="list")
    names = {r.info.run_name for r in runs}
    n_m, n_t = len(params["methods"]), len(params["testsets"])
    assert "data" in names and "report" in names
    assert sum(n.startswith("restore/") for n in names) == n_m * n_t
    assert sum(n.startswith("score/") for n in names) == n_m * n_t
    assert len(runs) >= 2 + n_t + len(params["train"]) + n_m * n_t


def test_each_stage_deps_cover_the_bfrbench_modules_it_imports(repo):
    """What the repro above recorded (run alone, this test runs its own repro): see test_stage_deps.py."""
    repo, env, params = repo
    imports = Path(env[RECORD_ENV])
    if not any(imports.glob("*.json")):
        _run(["dvc", "repro"], repo, env)
    assert_deps_cover_imports(repo, imports)


def test_submitted_outputs_are_scored_and_ranked(repo):
    """`bfrbench submit` enters a folder (here unet_l1's own restores, so its row must equal unet_l1's), `dvc repro`
    scores it in score_submission@NAME and the report ranks it, marked as submitted outputs."""
    repo, env, params = repo
    if not (repo / "results").is_dir():  # run alone
        _run(["dvc", "repro"], repo, env)
    testset = next(iter(params["testsets"]))
    before = (repo / "params.yaml").read_text()
    shutil.copytree(repo / "results" / "unet_l1" / testset, repo / "mine_outputs")
    # not through the recording shim on PATH: `submit` is no DVC stage
    _run([sys.executable, "-m", "bfrbench.cli", "submit", "mine", "--testset", testset, "--outputs", "mine_outputs",
          "--description", "unet_l1's outputs, entered as a submission"], repo, env)
    assert yaml.safe_load((repo / "params.yaml").read_text())["submissions"]["mine"]["outputs"] == {
        testset: f"submissions/mine/{testset}"}
    out = _run(["dvc", "repro"], repo, env)
    assert "Running stage 'score_submission@mine'" in out and "Running stage 'report'" in out
    assert "Running stage 'train@" not in out and "Running stage 'restore@" not in out
    md = (repo / "reports" / "leaderboard.md").read_text()
    rows = {r[0]: r[1:] for r in _table_rows(md, testset)}
    assert [c.strip("*") for c in rows["mine (submitted outputs)"]] == [c.strip("*") for c in rows["unet_l1"]][:-1] + \
        ["n/a"], "the same images score the same; a submission has no NFE"
    assert "## Submitted outputs" in md and "unet_l1's outputs, entered as a submission" in md
    assert_deps_cover_imports(repo, Path(env[RECORD_ENV]))  # score_submission@mine's deps cover what it imported
    # Leave the repository as the other tests expect it (their test sets change; these outputs would not pair).
    (repo / "params.yaml").write_text(before)
    shutil.rmtree(repo / "submissions")
    shutil.rmtree(repo / "mine_outputs")
    shutil.rmtree(repo / "scores" / "mine")


def test_exp_run_with_a_changed_param(repo):
    repo, env, params = repo
    if not (repo / "results").is_dir():  # run alone
        _run(["dvc", "repro"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "ran", "--allow-empty"], repo, env)
    # A param only the report reads: `-S` reaches params.yaml and DVC reruns exactly the stages that read it (a test
    # set's limit would rerun its testset, 11 restores, seeds and scores: ~7 of this file's ~20 min, for no more proof)
    out = _run(["dvc", "exp", "run", "-S", "report.grid_images=1"], repo, env)
    ran = re.findall(r"Running stage '([^']+)'", out)
    assert ran == ["report"], ran
    shown = _run(["dvc", "exp", "show", "--no-pager", "--csv"], repo, env)
    assert "report.grid_images" in shown
