"""Reference loss curves: the comparison rules, and every smoke training stage's committed reference.

The slow test at the end trains the smoke profile's unet_l1 stage and checks it with `bfrbench train ... --check`:
bit-identical on a machine like the one that recorded the reference, within the stated tolerance elsewhere.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bfrbench.errors import ConfigError
from bfrbench.training.curves import (
    CROSS_MACHINE_ATOL,
    CROSS_MACHINE_RTOL,
    compare_curves,
    curve_document,
    reference_path,
    same_numeric_environment,
)

ROOT = Path(__file__).resolve().parents[2]
ENV = {"cpu": "X", "cpu_capability": "AVX2", "threads": 2, "torch": "2.13.0", "gpu": None, "cuda": None}


def _curve(values):
    return {"every": 10, "points": [{"step": s, "train/l1": v} for s, v in values]}


def test_identical_curves_pass_exactly_and_one_ulp_fails():
    ref = _curve([(1, 0.5), (10, 0.25), (20, 0.125)])
    assert compare_curves(ref, ref, exact=True)["ok"]
    nudged = _curve([(1, 0.5), (10, float.fromhex("0x1.0000000000001p-2")), (20, 0.125)])
    result = compare_curves(nudged, ref, exact=True)
    assert not result["ok"] and result["rows"]["train/l1"]["failed_steps"] == 1
    assert result["rows"]["train/l1"]["at_step"] == 10


def test_cross_machine_tolerance_accepts_small_and_rejects_large_deviations():
    ref = _curve([(1, 0.5), (10, 0.25)])
    inside = _curve([(1, 0.5 * (1 + CROSS_MACHINE_RTOL / 2)), (10, 0.25)])
    outside = _curve([(1, 0.5 * (1 + 2 * CROSS_MACHINE_RTOL) + CROSS_MACHINE_ATOL), (10, 0.25)])
    assert compare_curves(inside, ref, exact=False)["ok"]
    assert not compare_curves(outside, ref, exact=False)["ok"]
    assert not compare_curves(_curve([(1, float("nan")), (10, 0.25)]), ref, exact=False)["ok"]


def test_missing_steps_and_losses_are_problems():
    ref = _curve([(1, 0.5), (10, 0.25)])
    assert "recorded steps differ" in compare_curves(_curve([(1, 0.5)]), ref, exact=False)["problems"][0]
    extra = {"every": 10, "points": [{"step": 1, "train/l1": 0.5, "train/gan": 1.0}, {"step": 10, "train/l1": 0.25}]}
    assert any("only one of the two" in p for p in compare_curves(extra, ref, exact=False)["problems"])


def test_numeric_environment_decides_exactness():
    assert same_numeric_environment(ENV, {**ENV, "python": "other", "numpy": "other"})
    assert not same_numeric_environment(ENV, {**ENV, "threads": 1})
    assert not same_numeric_environment(ENV, {**ENV, "cpu": "Intel"})


def test_curve_document_orders_points_by_step():
    doc = curve_document({"every": 5, "points": {"10": {"train/l1": 1.0}, "5": {"train/l1": 2.0}}})
    assert [p["step"] for p in doc["points"]] == [5, 10]


def _committed_references():
    params = yaml.safe_load((ROOT / "experiments/profiles/smoke.yaml").read_text())
    items = [v for v in params["train"].values() if v["stage"] not in ("card", "fit")]
    items.append({"method": "unet_l1_of", "stage": "train", "config": params["flipnet"]["plus_of_config"]})
    return {i["config"]: i for i in items if (ROOT / reference_path(i["config"])).is_file()}


def test_every_smoke_training_stage_has_a_committed_reference():
    """Recorded from a fresh-clone `make repro` (bfrbench train ... --record, or training.curves.record_reference on
    its models/M/S); docs/reproducibility.md lists them."""
    params = yaml.safe_load((ROOT / "experiments/profiles/smoke.yaml").read_text())
    trained = [v["config"] for v in params["train"].values() if v["stage"] not in ("card", "fit")]
    assert sorted(_committed_references()) == sorted([*trained, params["flipnet"]["plus_of_config"]])


@pytest.mark.parametrize("config", sorted(_committed_references()))
def test_committed_reference_matches_its_config(config):
    """A reference records the digest of the merged config it was trained with: a changed default or config file
    without a new recording fails here, not silently in a user's --check."""
    from bfrbench.config import load_yaml
    from bfrbench.methods.registry import get_method
    from bfrbench.training.curves import config_digest
    from bfrbench.training.stage import merged_config

    item = _committed_references()[config]
    ref = json.loads((ROOT / reference_path(config)).read_text())
    assert (ref["method"], ref["stage"]) == (item["method"], item["stage"])
    assert len(ref["points"]) >= 3 and all(len(p) > 1 for p in ref["points"]), "a reference needs losses at steps"
    method = get_method(item["method"])
    cfg = merged_config(method, item["stage"], load_yaml(ROOT / config), config)
    assert config_digest(json.loads(json.dumps(cfg, default=str))) == ref["config_sha256"], (
        f"{config} or its defaults changed since the reference was recorded: re-record it with --record --overwrite")


def test_check_refuses_a_reference_of_another_config(tmp_path):
    from bfrbench.training.curves import check_against_reference

    ref = {"method": "unet_l1", "stage": "train", "seed": 1, "size": 32, "config_sha256": "0" * 16,
           "environment": ENV, "every": 10, "points": _curve([(1, 0.5)])["points"]}
    (tmp_path / "c.curve.json").write_text(json.dumps(ref))
    out = tmp_path / "out"
    out.mkdir()
    (out / "card.json").write_text(json.dumps({"method": "unet_l1", "stage": "train", "config": {"a": 1},
                                               "environment": ENV}))
    (out / "curve.json").write_text(json.dumps(_curve([(1, 0.5)])))
    with pytest.raises(ConfigError, match="config_sha256"):
        check_against_reference(out, tmp_path / "c.yaml", 1, 32)


@pytest.mark.slow
def test_smoke_unet_l1_matches_its_reference(tmp_path):
    """The real thing: smoke faces, the smoke config, `bfrbench train --check` (exit 0 = within the rule)."""
    env = {**os.environ, "BFRBENCH_NO_MLFLOW": "1", "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1"}
    bfrbench = [sys.executable, "-m", "bfrbench.cli", "--no-progress"]
    smoke = yaml.safe_load((ROOT / "experiments/profiles/smoke.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(smoke))
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    data = subprocess.run([*bfrbench, "data", "prepare"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    assert data.returncode == 0, data.stderr[-3000:]
    cmd = [*bfrbench, "train", "unet_l1", "train", "--config", "experiments/unet_l1/train_smoke.yaml", "--check"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "curve check: PASS" in proc.stdout


def test_config_digest_ignores_null_defaults_only():
    from bfrbench.training.curves import config_digest

    base = {"data": {"batch_size": 4, "flip": True}, "optim": {"lr": 1e-4}}
    assert config_digest({**base, "data": {**base["data"], "new_option": None}}) == config_digest(base)
    assert config_digest({**base, "data": {**base["data"], "new_option": "set"}}) != config_digest(base)
    assert config_digest({**base, "data": {**base["data"], "flip": None}}) != config_digest(base)
    assert config_digest({**base, "optim": {"lr": 2e-4}}) != config_digest(base)
