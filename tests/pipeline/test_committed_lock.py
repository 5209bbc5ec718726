"""The committed dvc.lock holds exactly the graph's stages: `dvc repro` keeps the entries of stages that left
dvc.yaml (a test set dropped from the smoke profile left seven behind, unnoticed), and they make every stage's lock
rewrite slower and the lock misleading."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_lock_stages_are_the_graphs_stages():
    params = ROOT / "params.yaml"
    if params.read_text() != (ROOT / "experiments/profiles/smoke.yaml").read_text():
        pytest.skip("params.yaml is not the smoke profile (`bfrbench profile smoke` restores it); the lock records it")
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        graph = {stage.addressing for stage in repo.index.stages if stage.addressing.split(":")[-1] != "data.dvc"}
    locked = set(yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"])
    assert not locked - graph, f"dvc.lock entries of stages no longer in dvc.yaml: {sorted(locked - graph)}"
    assert not graph - locked, f"stages never run for the committed lock: {sorted(graph - locked)}"
