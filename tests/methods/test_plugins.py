"""Plugin methods: a method in another installed package registers through the entry-point group `bfrbench.methods`
and then works wherever a built-in name does (registry, params validation, `bfrbench methods`, the stage runner,
restore, scoring, the report).

The example plugin (tests/plugins/example_plugin) is made discoverable without pip and without network: each test
copies its package into a temporary folder beside a `<dist>-<version>.dist-info/` (METADATA + entry_points.txt, what
pip would write) and puts that folder on sys.path (in-process) or PYTHONPATH (subprocesses).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bfrbench.errors import ConfigError
from bfrbench.methods import registry
from bfrbench.methods.registry import (
    ENTRY_POINT_GROUP,
    METHODS,
    all_method_specs,
    check_method_names,
    clear_plugin_cache,
    find_method_spec,
    get_method,
    method_spec,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "plugins" / "example_plugin"
PACKAGE = "bfrbench_example_plugin"
DIST, VERSION = "bfrbench-example-plugin", "0.1.0"
NAME, VALUE = "example_conv", "bfrbench_example_plugin.method:ExampleConv"
ORIGIN = f"plugin: {DIST} {VERSION}"
# a few steps of the example net at 32 px: seconds on CPU
TINY = {"model": {"width": 4, "depth": 2}, "data": {"batch_size": 4, "num_workers": 0, "val_count": 4},
        "trainer": {"max_steps": 3, "log_every_n_steps": 1, "checkpoint_every_n_steps": 3}}


def write_dist(site: Path, dist: str, version: str, entries: dict[str, str]) -> Path:
    """The metadata pip writes for an installed distribution: enough for importlib.metadata.entry_points."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    return info


def install_example(site: Path) -> Path:
    shutil.copytree(EXAMPLE / PACKAGE, site / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    write_dist(site, DIST, VERSION, {NAME: VALUE})
    return site


def write_plugin(site: Path, dist: str, entries: dict[str, str], modules: dict[str, str]) -> None:
    """A one-off plugin: `modules` maps a module path ("pkg/mod.py") to its source."""
    for rel, source in modules.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    write_dist(site, dist, "1.0", entries)


@pytest.fixture(autouse=True)
def _fresh_registry(tmp_path):
    """No entry point read by another test, and no plugin module imported from another test's folder."""
    clear_plugin_cache()
    yield
    clear_plugin_cache()
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """An empty "site-packages" on sys.path (syspath_prepend also invalidates importlib's caches)."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def example(site) -> Path:
    return install_example(site)


def test_pyproject_declares_the_entry_point_the_tests_install():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; requires-python still admits 3.10
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert (project["name"], project["version"]) == (DIST, VERSION)
    assert project["entry-points"][ENTRY_POINT_GROUP] == {NAME: VALUE}


def test_plugin_is_discovered_with_its_origin(example):
    spec = method_spec(NAME)
    assert spec.origin == ORIGIN
    assert spec.stages == ("train",) and spec.factory == VALUE
    assert spec.description.startswith("example plugin") and spec.behaviour.startswith("deterministic")
    specs = all_method_specs()
    assert list(specs) == [*METHODS, NAME], "built-ins first, in registry order, then the plugins"
    assert {s.origin for n, s in specs.items() if n != NAME} == {"built-in"}
    method = get_method(NAME)
    assert type(method).__name__ == "ExampleConv" and method.name == NAME
    assert find_method_spec("no_such_method") is None
    with pytest.raises(ConfigError, match=f"(?s)unknown method 'no_such_method'.*{NAME}.*{ENTRY_POINT_GROUP}"):
        method_spec("no_such_method")


def test_params_validation_accepts_a_plugin_name(example):
    params = {"methods": ["lq", NAME], "train": {f"{NAME}-train": {"method": NAME, "stage": "train"}}}
    check_method_names(params, "params.yaml")
    with pytest.raises(ConfigError, match=f"(?s)train.x.method: unknown method 'nope'.*registered methods: .*{NAME}"):
        check_method_names({"methods": [NAME], "train": {"x": {"method": "nope"}}}, "params.yaml")


def test_a_submission_may_not_take_a_plugin_name(example):
    """Submitted outputs are scored into scores/NAME/ (bfrbench.stages.submissions): a plugin's name is as taken as a
    built-in's."""
    from bfrbench.stages.submissions import check_name

    for name in ("unet_l1", NAME):
        with pytest.raises(ConfigError, match=f"{name!r} is a registered method's name"):
            check_name({}, name, "params.yaml")
    check_name({}, "my_outputs", "params.yaml")


def test_entry_points_are_read_once_and_never_for_a_built_in_name(example, monkeypatch):
    import importlib.metadata

    calls = []
    real = importlib.metadata.entry_points

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    assert method_spec("unet_l1").origin == "built-in"
    check_method_names({"methods": ["lq", "unet_l1"], "train": {"u": {"method": "unet_l1"}}}, "p")
    assert calls == [], "a built-in name must not scan the installed packages"
    assert method_spec(NAME).origin == ORIGIN
    assert method_spec(NAME).origin == ORIGIN and all_method_specs()[NAME].origin == ORIGIN
    assert calls == [{"group": ENTRY_POINT_GROUP}], "entry points are read once per process (cached)"


def test_bfrbench_methods_lists_the_plugin_with_its_origin(example, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(example), os.environ.get("PYTHONPATH", "")]),
           "BFRBENCH_NO_MLFLOW": "1"}
    proc = subprocess.run([sys.executable, "-m", "bfrbench.cli", "methods"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert list(lines) == [*METHODS, NAME]
    assert "stages: train" in lines[NAME] and ORIGIN in lines[NAME] and "residual stack" in lines[NAME]
    assert "built-in" in lines["unet_l1"] and "plugin" not in lines["unet_l1"]


def test_a_plugin_named_like_a_built_in_is_an_error(site):
    write_plugin(site, "bfrbench-clash", {"unet_l1": "clash_pkg.method:Clash"}, {"clash_pkg/__init__.py": ""})
    with pytest.raises(ConfigError) as err:
        all_method_specs()
    text = str(err.value)
    assert "entry point 'unet_l1' = 'clash_pkg.method:Clash'" in text and "bfrbench-clash 1.0" in text
    assert "name of a built-in method" in text and "fix: rename the entry point" in text
    # a built-in name never reads entry points, so the built-in keeps working; any other lookup reports the clash
    assert method_spec("unet_l1").origin == "built-in"
    with pytest.raises(ConfigError, match="bfrbench-clash"):
        method_spec("something_else")


def test_two_distributions_registering_one_name_is_an_error(site):
    write_plugin(site, "bfrbench-one", {"twin": "twin_a:M"}, {"twin_a.py": ""})
    write_plugin(site, "bfrbench-two", {"twin": "twin_b:M"}, {"twin_b.py": ""})
    with pytest.raises(ConfigError, match="(?s)method 'twin' is also registered by.*fix: uninstall one"):
        method_spec("twin")


def test_a_plugin_that_does_not_import_is_an_error_naming_it(site):
    write_plugin(site, "bfrbench-broken", {"broken": "broken_pkg.method:Broken"},
                 {"broken_pkg/__init__.py": "", "broken_pkg/method.py": "import a_module_nobody_installed\n"})
    with pytest.raises(ConfigError) as err:
        method_spec("broken")
    text = str(err.value)
    assert "entry point 'broken' = 'broken_pkg.method:Broken'" in text and "bfrbench-broken 1.0" in text
    assert "does not import: ModuleNotFoundError" in text and "a_module_nobody_installed" in text
    assert "fix: " in text and 'import broken_pkg.method' in text
    with pytest.raises(ConfigError, match="does not import"):  # the listing names it too
        all_method_specs()


GOOD = """
class M:
    name = "bad"
    stages = ("train",)
    description = "a method"
    def default_config(self, stage): return {}
    def plan(self, ctx): return None
    def sampling_defaults(self): return {}
    def load(self, models_dir, device="cpu", sampling=None): return None
"""


@pytest.mark.parametrize(("value", "change", "expected"), [
    ("bad_pkg.m:M", ('    stages = ("train",)\n', ""), r"M.stages is None, not a non-empty tuple.*fix: set e.g."),
    ("bad_pkg.m:M", ('    stages = ("train",)\n', "    stages = ()\n"), r"M.stages is \(\)"),
    ("bad_pkg.m:M", ('    description = "a method"\n', ""), r"M.description is None.*fix: set `description"),
    ("bad_pkg.m:M", ('    name = "bad"\n', '    name = "unet_l1"\n'), r"M.name is 'unet_l1'.*fix: set `name = 'bad'`"),
    ("bad_pkg.m:M", ('    name = "bad"\n', ""), r"M.name is None"),
    ("bad_pkg.m:M", ('    description = "a method"\n', '    description = "a method"\n    behaviour = "varies"\n'),
     r"M.behaviour is 'varies'.*'deterministic' or 'stochastic'"),
    ("bad_pkg.m:M", ("    def plan(self, ctx): return None\n", ""), r"M has no plan.*bfrbench.methods.base.Method"),
    ("bad_pkg.m", ("", ""), r"names a module, not a class"),
    ("bad_pkg.m:make", ("", "\ndef make(): return M()\n"), r"is a function, not a class"),
])
def test_a_plugin_class_without_what_bfrbench_reads_is_an_error(site, value, change, expected):
    old, new = change
    source = GOOD.replace(old, new) if old else GOOD + new
    write_plugin(site, "bfrbench-bad", {"bad": value}, {"bad_pkg/__init__.py": "", "bad_pkg/m.py": source})
    with pytest.raises(ConfigError, match="(?s)" + expected) as err:
        method_spec("bad")
    assert f"entry point 'bad' = '{value}' (group {ENTRY_POINT_GROUP}) of bfrbench-bad 1.0" in str(err.value)


def test_the_valid_minimal_plugin_class_is_accepted(site):
    """The parametrised cases above each break this one class: unbroken, it registers (default behaviour line)."""
    write_plugin(site, "bfrbench-bad", {"bad": "bad_pkg.m:M"}, {"bad_pkg/__init__.py": "", "bad_pkg/m.py": GOOD})
    spec = method_spec("bad")
    assert spec.behaviour == registry.DETERMINISTIC_ONE_PASS and spec.origin == "plugin: bfrbench-bad 1.0"


# --- end to end: train (stage runner), restore, score, report --------------------------------------------------


def _test_set(root: Path, n: int = 4) -> Path:
    """artifacts/testsets/syn: smooth 32 px faces (hq) and a blurred copy (lq), with the meta.json the report reads."""
    import cv2

    from bfrbench.io.images import write_image
    from conftest import smooth_face_like

    ts = root / "artifacts" / "testsets" / "syn"
    rng = np.random.default_rng(7)
    for i in range(n):
        hq = smooth_face_like(rng, 32)
        write_image(ts / "hq" / f"face_{i}.png", hq)
        write_image(ts / "lq" / f"face_{i}.png", cv2.GaussianBlur(hq, (5, 5), 1.5))
    (ts / "meta.json").write_text(json.dumps({"kind": "synthetic", "count": n, "size": 32, "has_gt": True,
                                              "preset": "gaussian", "seed": 1, "source_split": "test"}))
    return ts


def _check_report(root: Path) -> str:
    """The report over `lq` (the floor) and the plugin: both rows ranked on psnr_rgb; the Methods section has the
    plugin's description and behaviour line from its class attributes."""
    from bfrbench.engine.scoring import score_folders
    from bfrbench.report.leaderboard import build_report

    ts = root / "artifacts" / "testsets" / "syn"
    score_folders(ts / "lq", ts / "hq", ["psnr_rgb"], out_dir=root / "scores" / "lq" / "syn", progress=False)
    params = {"profile": "smoke", "size": 32, "methods": ["lq", NAME], "testsets": {"syn": {"kind": "synthetic"}},
              "report": {"grid_images": 2}}
    md = build_report(params, root / "reports", progress=False, speed_dir=root / "speed")["markdown"].read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith(("| lq ", f"| {NAME} "))}
    assert set(rows) == {"lq", NAME}, md
    values = {m: float(line.split("|")[2].strip().strip("*")) for m, line in rows.items()}
    best = max(values, key=values.get)
    assert "**" in rows[best].split("|")[2] and "**" not in rows[min(values, key=values.get)].split("|")[2], md
    spec = method_spec(NAME)
    assert f"- **{NAME}**: {spec.description}. Weights: train: trained by the suite" in md, md
    assert spec.behaviour in md
    return md


def test_plugin_trains_restores_scores_and_is_ranked(example, tmp_path, monkeypatch):
    """In process, through the same functions the DVC stages call: run_stage, run_restore, score_folders,
    build_report."""
    from bfrbench.engine.scoring import score_folders
    from bfrbench.methods.base import StageContext
    from bfrbench.stages.restore import run_restore
    from bfrbench.training.stage import run_stage
    from conftest import make_face_set

    monkeypatch.setenv("BFRBENCH_NO_MLFLOW", "1")
    monkeypatch.chdir(tmp_path)
    faces = make_face_set(tmp_path / "artifacts" / "faces")
    models = tmp_path / "models" / NAME
    ctx = StageContext(NAME, "train", TINY, {}, faces, models / "train", models, seed=5, size=32, progress=False,
                       extras={"work_root": tmp_path / "checkpoints"})
    run_stage(get_method(NAME), ctx)
    card = json.loads((models / "train" / "card.json").read_text())
    assert (card["method"], card["stage"], card["steps"]) == (NAME, "train", 3)
    assert card["config"]["model"] == TINY["model"] and (models / "train" / "curve.json").is_file()

    ts = _test_set(tmp_path)
    out = tmp_path / "results" / NAME / "syn"
    meta = run_restore(NAME, ts / "lq", out, models, batch_size=2, progress=False, testset="syn",
                       work=tmp_path / "restore-work")
    assert meta["nfe"] == 1 and sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (ts / "lq").iterdir())
    summary = score_folders(out, ts / "hq", ["psnr_rgb"], out_dir=tmp_path / "scores" / NAME / "syn", progress=False)
    assert summary["metrics"]["psnr_rgb"]["n"] == 4
    _check_report(tmp_path)


@pytest.mark.slow
def test_plugin_runs_through_the_cli_as_the_dvc_stages_do(example, tmp_path, monkeypatch):
    """`bfrbench train` with a params.yaml that lists the plugin (methods, train, sampling), `bfrbench restore --lq`
    and `bfrbench score --pred --gt`, each in a subprocess that finds the plugin on PYTHONPATH only."""
    import yaml

    from conftest import make_face_set

    monkeypatch.chdir(tmp_path)
    params = yaml.safe_load((ROOT / "experiments" / "profiles" / "smoke.yaml").read_text())
    params["size"] = 32
    params["methods"].append(NAME)
    params["train"][f"{NAME}-train"] = {"method": NAME, "stage": "train", "config": "experiments/example/train.yaml"}
    params["sampling"][NAME] = {}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp_path / "experiments" / "example").mkdir(parents=True)
    (tmp_path / "experiments" / "example" / "train.yaml").write_text(yaml.safe_dump(TINY))
    make_face_set(tmp_path / "artifacts" / "faces")
    ts = _test_set(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(example), os.environ.get("PYTHONPATH", "")]),
           "BFRBENCH_NO_MLFLOW": "1", "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1"}
    cli = [sys.executable, "-m", "bfrbench.cli", "--no-progress"]
    out = tmp_path / "results" / NAME / "syn"
    for cmd in (["train", NAME, "train", "--config", "experiments/example/train.yaml"],
                ["restore", NAME, "--lq", str(ts / "lq"), "--out", str(out), "--models", f"models/{NAME}",
                 "--params", "params.yaml"],
                ["score", "--pred", str(out), "--gt", str(ts / "hq"), "--out", f"scores/{NAME}/syn",
                 "--metrics", "psnr_rgb"]):
        proc = subprocess.run([*cli, *cmd], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    assert json.loads((tmp_path / "models" / NAME / "train" / "card.json").read_text())["method"] == NAME
    _check_report(tmp_path)
