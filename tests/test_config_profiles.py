"""Every config in experiments/ is loaded, validated and merged against its method's defaults (tiny-size habit)."""

from pathlib import Path

import pytest
import yaml

from bfrbench.config import TINY_SUFFIX, load_params, merge_known, tiny_config_path
from bfrbench.data.degradation import preset_from_config
from bfrbench.errors import ConfigError
from bfrbench.methods.registry import METHODS, check_method_names, get_method
from bfrbench.stages.testsets import validate_spec
from bfrbench.training.stage import merged_config

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "experiments" / "profiles").glob("*.yaml"))
SMOKE = ROOT / "experiments" / "profiles" / "smoke.yaml"  # the tests pin their profile: params.yaml may hold any


def _degradation_blocks(cfg):
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            if key == "degradation":
                yield value
            else:
                yield from _degradation_blocks(value)



def test_params_yaml_is_a_profile():
    """params.yaml is a copy of one profile (`bfrbench profile NAME`), whichever it is."""
    assert any((ROOT / "params.yaml").read_text() == p.read_text() for p in PROFILES)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_validates(profile):
    params = load_params(profile)
    check_method_names(params, str(profile))
    assert params["profile"] == profile.stem
    for name, spec in params["testsets"].items():
        validate_spec(name, spec)
        if spec["kind"] == "synthetic":
            preset_from_config(spec["degradation"])
    for entry in params["train"].values():
        method = get_method(entry["method"])
        assert entry["stage"] in method.stages
        cfg = yaml.safe_load((ROOT / entry["config"]).read_text()) or {}
        merged = merged_config(method, entry["stage"], cfg, entry["config"])
        for block in _degradation_blocks(merged):
            preset_from_config(block)
    # every method in the profile has at least one stage in the train foreach, or is a link (ablation row reusing
    # another method's models, dvc.yaml `link`) to a method that has (the graph needs models/<method>)
    trained = {e["method"] for e in params["train"].values()}
    links = _links()
    assert trained | {m for m, item in links.items() if item["uses"] in trained} | _trained_by_own_stage() \
        >= set(params["methods"])
    for method, item in links.items():
        assert get_method(method).stages == ("link",)
        merged_config(get_method(method), "link", yaml.safe_load((ROOT / item["config"]).read_text()),
                    item["config"])


def _trained_by_own_stage() -> set[str]:
    """Methods whose models a dedicated dvc.yaml stage writes (e.g. `train_of` -> models/unet_l1_of/train)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    outs = [o for st in stages.values() if "outs" in st for o in st["outs"] if isinstance(o, str)]
    return {o.split("/")[1] for o in outs if o.startswith("models/") and "$" not in o}


def _links() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].get("link", {}).get("foreach", {})


def test_every_experiment_config_is_used_by_a_profile():
    used = {e["config"] for p in PROFILES for e in load_params(p)["train"].values()}
    used |= {item["config"] for item in _links().values()}
    used |= {v for p in PROFILES for v in (load_params(p).get("flipnet") or {}).values()}  # FLIPNET data stages
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "experiments").rglob("*.yaml")
               if "profiles" not in p.parts and not p.name.endswith(TINY_SUFFIX)}
    assert on_disk <= used, f"configs no profile uses: {sorted(on_disk - used)}"


def test_every_smoke_stage_has_a_valid_tiny_config():
    """`<stage>_tiny.yaml` beside each smoke config is what the end-to-end DVC test trains (seconds, not minutes)."""
    for entry in load_params(SMOKE)["train"].values():
        tiny = tiny_config_path(entry["config"])
        assert (ROOT / tiny).is_file(), f"{entry['config']}: add {tiny} (tiny sizes for the end-to-end test)"
        method = get_method(entry["method"])
        cfg = yaml.safe_load((ROOT / tiny).read_text()) or {}
        merged_config(method, entry["stage"], cfg, tiny)


def test_unknown_keys_are_errors(tmp_path):
    bad = yaml.safe_load(SMOKE.read_text())
    bad["score"]["metricz"] = ["psnr_rgb"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="unknown key.*metricz"):
        load_params(path)
    with pytest.raises(ConfigError, match="unknown key 'lrr'"):
        merge_known({"lr": 1.0}, {"lrr": 2.0}, "cfg")
    with pytest.raises(ConfigError, match="unknown key"):
        validate_spec("x", {"kind": "synthetic", "degradation": "gfpgan", "sed": 1})


def test_unknown_method_is_an_error(tmp_path):
    bad = yaml.safe_load(SMOKE.read_text())
    bad["methods"].append("nosuchmethod")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad))
    params = load_params(path)  # the schema is fine; the method registry owns the names
    with pytest.raises(ConfigError, match="nosuchmethod"):
        check_method_names(params, str(path))


def test_registry_names_match():
    for name, spec in METHODS.items():
        method = get_method(name)
        assert method.name == name and tuple(method.stages) == spec.stages
