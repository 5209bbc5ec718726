"""`bfrbench preflight` end to end through the CLI (subprocesses: Lightning's ddp re-executes the command line).

The paper test runs every stage of the paper profile with 2 processes on CPU (gloo), at batch 1 and a lowered size
so that it fits CI's budget on 2 cores; docs/preflight.md has its measured time and a table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# minutes: ~23 on 2 cores (the paper test ~21): tests/conftest.py starts the longest files first
pytestmark = pytest.mark.slow(minutes=23)

ROOT = Path(__file__).resolve().parents[2]


def _preflight(tmp_path, *args, timeout):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    out = tmp_path / "preflight"
    cmd = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "preflight", "--devices", "2", "--accelerator",
           "cpu", "--steps", "1", "--out", str(out), *args]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return done, out


def _check(done, out, profile):
    # the CLI prints the errors last (they are what a failure's message needs)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    doc = json.loads((out / "preflight.json").read_text())
    assert doc["ok"] and doc["profile"] == profile
    for stage in doc["stages"]:
        assert stage["status"] == "pass", stage
        if stage["trains"]:
            m = stage["measured"]
            # stopped at the first batch end at or past step 1 (1, or 2 for GANs), resumed for one batch more
            assert m["resumed_from_step"] in (1, 2) and m["resumed_to_step"] == m["resumed_from_step"] + \
                m["steps_per_batch"]
            assert m["parameters"] > 0 and m["peak_memory_bytes"] > 0 and m["seconds_per_step"] > 0
            assert stage["projection"]["wall_seconds"] > 0
            assert stage["checkpoint_bytes"] > 0, "the step checkpoint is measured before it is deleted"
            assert not (out / "checkpoints" / stage["method"] / stage["stage"]).exists(), "checkpoints are deleted"
    assert all(m["status"] == "pass" for m in doc["methods"]), doc["methods"]
    assert "wrote" in done.stdout.splitlines()[-1] and "preflight.json" in done.stdout.splitlines()[-1]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{out.parent / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=[f"bfrbench-{profile}"], output_format="list")
    assert [r.info.run_name for r in runs] == ["preflight"], "one MLflow run, none from the training subprocesses"
    return doc


def test_smoke_profile_subset(tmp_path):
    """A subset of the smoke profile (a chain of three stages, a link row, a card): the full smoke preflight takes
    ~15 min on 2 cores, its stages are all covered by the paper test below."""
    done, out = _preflight(tmp_path, "--profile", "smoke", "--stages", "lq", "unet_l1", "codeformer_w1",
                           timeout=1800)
    doc = _check(done, out, "smoke")
    assert [s["key"] for s in doc["stages"]] == ["lq-card", "unet_l1-train", "codeformer-vqgan",
                                                 "codeformer-transformer", "codeformer-cft", "codeformer_w1"]
    assert {m["method"] for m in doc["methods"]} == {"lq", "unet_l1", "codeformer", "codeformer_w1"}


def test_paper_profile_every_stage_two_processes(tmp_path):
    """Every stage of the paper profile (train entries, link rows, train_of) with its paper strategy on 2 CPU
    processes; batch 1 and 128 px to fit CI (the table says so per stage)."""
    done, out = _preflight(tmp_path, "--profile", "paper", "--batch-size", "1", "--size", "128", "--why",
                           "CI on 2 CPU cores", timeout=3600)
    doc = _check(done, out, "paper")
    import yaml

    params = yaml.safe_load((ROOT / "experiments/profiles/paper.yaml").read_text())
    keys = [s["key"] for s in doc["stages"]]
    assert keys[: len(params["train"])] == list(params["train"]) and keys[-1] == "train_of"
    assert {"clrface_no_mask", "clrface_no_guidance", "codeformer_w1"} <= set(keys)
    for stage in doc["stages"]:
        if stage["trains"]:
            assert stage["preflight"]["devices"] == 2
            assert any("(--batch-size, CI on 2 CPU cores)" in n for n in stage["notes"]) or \
                stage["configured"]["batch_size"] == 1
    diffusion = next(s for s in doc["stages"] if s["key"] == "flipnet-diffusion")
    assert diffusion["random_weights"] and diffusion["measured"]["parameters"] > 900_000_000  # SD 2.1 base UNet+VAE
    assert any("real degradation pairs absent" in n for n in diffusion["notes"]), "the stand-in is named"
    assert "random weights" in done.stdout and "--size" in done.stdout
