"""DVC deps that cannot drift: every `bfrbench` module a stage imports is covered by that stage's `deps`.

How: the end-to-end test (test_dvc_pipeline_e2e.py) runs the whole graph at tiny size with `bfrbench` on PATH
replaced by a shim (`install_shim`). The shim runs the real CLI and, at exit, writes the stage's name (DVC sets
DVC_STAGE), its argv and every `bfrbench` module in `sys.modules` (lazy imports included) to a JSON file.
`check_records` maps each record to its stage in the run's dvc.lock (cmd and deps after interpolation) and lists the
module files no dep covers (a file dep covers itself, a directory dep every file under it): the test fails on them.
`src/` deps that cover no imported module (stale) only warn: see `stale_summary`. Third-party packages are pinned
by pyproject.toml and are not checked.

The fast tests here check the coverage logic and that each stage of dvc.yaml covers the modules every command
imports; the real recording runs in the slow end-to-end test.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RECORD_ENV = "BFRBENCH_IMPORT_LOG"  # the folder the shim writes one JSON file per command into

# Modules a stage may import without listing them, each with the reason it cannot change the stage's outputs.
# Empty on purpose: the modules every command imports (cli, commands, errors, config, paths, tracking, __init__)
# all decide something a stage writes (argument defaults, output paths, config merging, run metadata), so every
# stage lists them.
EXEMPT: dict[str, str] = {}

_SHIM = """#!{python}
# bfrbench, recording the bfrbench modules this command imported (tests/pipeline/test_stage_deps.py).
import atexit, json, os, sys, uuid


def _record():
    folder = os.environ.get({env!r})
    if not folder:
        return
    modules = sorted(m for m in list(sys.modules) if m == "bfrbench" or m.startswith("bfrbench."))
    rec = {{"stage": os.environ.get("DVC_STAGE"), "argv": sys.argv[1:], "cwd": os.getcwd(), "modules": modules}}
    path = os.path.join(folder, f"{{os.getpid()}}-{{uuid.uuid4().hex}}.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(rec, f)
    os.replace(path + ".tmp", path)


atexit.register(_record)
from bfrbench.cli import main

sys.exit(main())
"""


def install_shim(bin_dir: Path, python: str = sys.executable) -> Path:
    """Write the recording `bfrbench` executable into bin_dir (put bin_dir first on PATH, RECORD_ENV in the env)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "bfrbench"
    shim.write_text(_SHIM.format(python=python, env=RECORD_ENV), encoding="utf-8")
    shim.chmod(0o755)
    return shim


def read_records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(folder).glob("*.json"))]


def module_file(name: str, src_root: Path, src_prefix: str = "src") -> str:
    """`bfrbench.io` -> src/bfrbench/io/__init__.py; `bfrbench.io.atomic` -> src/bfrbench/io/atomic.py."""
    rel = Path(*name.split("."))
    if (src_root / rel).is_dir():
        rel = rel / "__init__.py"
    else:
        rel = rel.with_suffix(".py")
        if not (src_root / rel).is_file():
            raise FileNotFoundError(f"module {name}: neither {src_root / rel} nor a package folder")
    return f"{src_prefix}/{rel.as_posix()}"


def _covers(dep: str, file: str) -> bool:
    dep = dep.rstrip("/")
    return file == dep or file.startswith(dep + "/")


def uncovered(modules: Iterable[str], deps: Iterable[str], src_root: Path = ROOT / "src",
              exempt: Mapping[str, str] = EXEMPT) -> list[str]:
    """The files (repo-relative) of the imported bfrbench `modules` that no path of `deps` covers."""
    deps = list(deps)
    files = {module_file(m, src_root) for m in modules if m == "bfrbench" or m.startswith("bfrbench.")}
    return sorted(f for f in files if f not in exempt and not any(_covers(d, f) for d in deps))


def stale(modules: Iterable[str], deps: Iterable[str], src_root: Path = ROOT / "src") -> list[str]:
    """The `src/` deps that cover none of the imported modules' files: the stage re-runs for code it never runs."""
    files = {module_file(m, src_root) for m in modules if m == "bfrbench" or m.startswith("bfrbench.")}
    return sorted(d for d in deps if d.startswith("src/") and not any(_covers(d, f) for f in files))


def lock_stages(lock: Path) -> dict[str, dict]:
    """dvc.lock's stages: name -> {"cmd": str, "deps": [path, ...]} (after templating, as DVC ran them)."""
    data = yaml.safe_load(Path(lock).read_text(encoding="utf-8"))
    out = {}
    for name, stage in data["stages"].items():
        cmd = stage["cmd"] if isinstance(stage["cmd"], str) else " && ".join(stage["cmd"])
        out[name] = {"cmd": cmd, "deps": [d["path"] for d in stage.get("deps", [])]}
    return out


def check_records(records: list[dict], stages: Mapping[str, Mapping], src_root: Path = ROOT / "src") -> dict:
    """Per stage: modules no dep covers ("uncovered") and src deps no module uses ("stale"); plus the problems
    of the recording itself ("unrecorded" stages, records with no stage or whose argv is not the stage's cmd)."""
    problems: dict = {"uncovered": {}, "stale": {}, "unrecorded": [], "bad_records": []}
    imported: dict[str, set[str]] = {}
    for rec in records:
        stage = stages.get(rec.get("stage") or "")
        if stage is None or shlex.split(stage["cmd"]) != ["bfrbench", *rec["argv"]]:
            problems["bad_records"].append({"stage": rec.get("stage"), "argv": rec["argv"]})
            continue
        imported.setdefault(rec["stage"], set()).update(rec["modules"])
    problems["unrecorded"] = sorted(set(stages) - set(imported))
    for name, modules in sorted(imported.items()):
        deps = stages[name]["deps"]
        if miss := uncovered(modules, deps, src_root):
            problems["uncovered"][name] = miss
        if extra := stale(modules, deps, src_root):
            problems["stale"][name] = extra
    return problems


def assert_deps_cover_imports(repo: Path, record_dir: Path) -> dict:
    """The slow check (called by the end-to-end test after its `dvc repro`): fails on uncovered modules and on a
    recording that does not match the stages; stale deps only warn (see `stale_summary`)."""
    records = read_records(record_dir)
    stages = lock_stages(Path(repo) / "dvc.lock")
    problems = check_records(records, stages)
    failing = {k: v for k, v in problems.items() if k != "stale" and v}
    assert not failing, "stage deps do not cover what the stages import (add the paths to the stage's deps in " \
        "dvc.yaml):\n" + json.dumps(failing, indent=1)
    if summary := stale_summary(problems["stale"], stages):
        warnings.warn("src deps that no stage of their group imported in the tiny run (not an error):\n" + summary,
                      stacklevel=2)
    return problems


def _group(name: str) -> str:
    return name.partition("@")[0]


def stale_summary(stale_deps: Mapping[str, list[str]], stages: Iterable[str]) -> str:
    """The stale deps worth reading: those stale for every item of their stage group (`restore@*`, ...), one line
    per group and dep.

    Not a failure, and deps stale for some items only are left out: the items of a foreach/matrix share one deps
    template (restore@lq lists the archs restore@codeformer runs, as params.yaml has no method -> code mapping).
    A dep stale for a whole group is either dead or imported only outside the tiny run: in another profile
    (testset kind difface_grid, the paper's face sources) or once weights are present (the metrics' networks in
    src/bfrbench/nets, CodeFormer's LPIPS loss). Read it when editing deps."""
    size: dict[str, int] = {}
    for name in stages:
        size[_group(name)] = size.get(_group(name), 0) + 1
    count: dict[tuple[str, str], int] = {}
    for name, deps in stale_deps.items():
        for dep in deps:
            count[(_group(name), dep)] = count.get((_group(name), dep), 0) + 1
    return "\n".join(f"  {g}{'@*' if size[g] > 1 else ''}: {d}" for (g, d), n in sorted(count.items()) if n == size[g])


# ---------------------------------------------------------------------------------------------------------- fast tests


def _dvc_stages(root: Path = ROOT) -> dict[str, dict]:
    """dvc.yaml's stages as DVC resolves them (foreach/matrix expanded): name -> {"cmd", "deps"}."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {s.name: {"cmd": s.cmd, "deps": [d.def_path for d in s.deps]}
                for s in repo.index.stages if s.cmd}


@pytest.fixture(scope="module")
def dvc_stages():
    return _dvc_stages()


def test_module_file_maps_packages_and_modules():
    assert module_file("bfrbench", ROOT / "src") == "src/bfrbench/__init__.py"
    assert module_file("bfrbench.io", ROOT / "src") == "src/bfrbench/io/__init__.py"
    assert module_file("bfrbench.io.atomic", ROOT / "src") == "src/bfrbench/io/atomic.py"
    with pytest.raises(FileNotFoundError):
        module_file("bfrbench.no_such_module", ROOT / "src")


def test_coverage_by_file_and_directory_dep_and_failure_when_a_dep_is_removed():
    modules = ["bfrbench", "bfrbench.io", "bfrbench.io.atomic", "bfrbench.data.blur_resize"]
    deps = ["src/bfrbench/__init__.py", "src/bfrbench/io", "src/bfrbench/data/blur_resize.py", "params.yaml"]
    assert uncovered(modules, deps) == []
    assert uncovered(modules, [d for d in deps if d != "src/bfrbench/io"]) == [
        "src/bfrbench/io/__init__.py", "src/bfrbench/io/atomic.py"]
    # A dep covers by whole path components only: src/bfrbench/data does not cover src/bfrbench/data_x.py.
    assert not _covers("src/bfrbench/data", "src/bfrbench/data_x.py")
    assert _covers("src/bfrbench/data/", "src/bfrbench/data/blur.py")
    assert stale(modules, deps + ["src/bfrbench/methods/flipnet"]) == ["src/bfrbench/methods/flipnet"]
    # Stale for every item of a group: reported; for some items only (a shared template): left out.
    summary = stale_summary({"restore@a": ["src/x", "src/y"], "restore@b": ["src/x"], "data": ["src/z"]},
                            ["restore@a", "restore@b", "data"])
    assert summary.splitlines() == ["  data: src/z", "  restore@*: src/x"]


def test_check_records_on_real_dvc_yaml_fails_when_a_dep_is_removed(dvc_stages):
    """A record as the shim writes it for `score`, against the resolved dvc.yaml: covered as is; dropping the io dep
    (or any other dep that covers an imported module) makes the check name the stage and the missing files."""
    name = next(n for n in dvc_stages if n.startswith("score@"))
    rec = {"stage": name, "argv": shlex.split(dvc_stages[name]["cmd"])[1:],
           "modules": ["bfrbench", "bfrbench.cli", "bfrbench.commands", "bfrbench.errors", "bfrbench.paths",
                       "bfrbench.io", "bfrbench.io.atomic", "bfrbench.engine", "bfrbench.engine.scoring"]}
    stages = {name: dvc_stages[name]}
    assert check_records([rec], stages)["uncovered"] == {}
    cut = {name: {**stages[name], "deps": [d for d in stages[name]["deps"] if d != "src/bfrbench/io"]}}
    assert check_records([rec], cut)["uncovered"] == {
        name: ["src/bfrbench/io/__init__.py", "src/bfrbench/io/atomic.py"]}
    # A record whose argv is not its stage's cmd, and a stage nothing recorded, are problems too.
    bad = check_records([{**rec, "argv": ["score"]}], stages)
    assert bad["bad_records"] and bad["unrecorded"] == [name]


def test_every_stage_covers_what_every_command_imports(dvc_stages):
    """The modules `bfrbench <any command>` imports before its handler runs (the CLI, the handlers' module and
    what they import at the top), plus the ones every pipeline handler imports (params via config and the method
    names' check, MLflow via tracking): every stage of dvc.yaml must list them. The slow end-to-end test checks the
    rest, per stage."""
    code = ("import sys, bfrbench.cli, bfrbench.commands, bfrbench.config, bfrbench.tracking, "
            "bfrbench.methods.registry; "
            "print('\\n'.join(m for m in sys.modules if m == 'bfrbench' or m.startswith('bfrbench.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    common = out.stdout.split()
    assert "bfrbench.cli" in common
    misses = {name: m for name, s in dvc_stages.items() if (m := uncovered(common, s["deps"]))}
    assert not misses, f"stages missing modules every command imports: {json.dumps(misses, indent=1)}"


def test_naive_degradation_does_not_depend_on_flipnet_code(dvc_stages):
    """degrade@naive runs the naive pipeline only: FLIPNET's code (or its models) must not re-run it."""
    naive = dvc_stages["degrade@naive"]["deps"]
    assert not [d for d in naive if d.startswith(("src/bfrbench/methods/flipnet", "models/"))], naive
    assert "src/bfrbench/methods/flipnet" in dvc_stages["degrade@flipnet"]["deps"]
