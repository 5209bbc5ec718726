"""Load and validate params.yaml and the per-method, per-stage configs in experiments/.

Unknown keys are errors, never silently ignored: a typo in a config must not train the wrong model.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench.errors import ConfigError

DEFAULT_PARAMS = "params.yaml"

# Top-level schema of params.yaml: key -> allowed sub-keys (None = free-form mapping validated by its consumer).
PARAMS_SCHEMA: dict[str, Any] = {
    "profile": str,
    "seed": int,
    "size": int,
    "data": {"source": str, "smoke": None, "folder": None},
    "testsets": None,
    "methods": list,
    "train": None,
    # restore/score: where they run (bfrbench.engine.devices); restore.device is the old spelling of accelerator
    "restore": {"batch_size": int, "device": str, "num_workers": int, "accelerator": str, "devices": int,
                "strategy": str, "num_nodes": int, "seeds": int},
    "sampling": None,  # method -> its restore-time settings (validated by the method's `load`)
    "score": {"metrics": list, "batch_size": int, "accelerator": str, "devices": int, "strategy": str,
              "num_nodes": int, "options": None},  # options: metric -> {key: value} (score_metric_options)
    "report": {"grid_images": int, "worst_images": int, "title": str, "breakdown_metrics": list},
    "flipnet": {"config": str, "plus_of_config": str},  # FLIPNET as a data source (stages degrade, realism, +O/F)
    "submissions": None,  # NAME -> {description, url, outputs} (checked by bfrbench.stages.submissions)
}


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found", fix="check the path (run from the repository root)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _check(schema: Any, value: Any, where: str) -> None:
    if schema is None:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        unknown = sorted(set(value) - set(schema))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}", fix=f"valid keys: {', '.join(sorted(schema))}")
        for key, sub in value.items():
            _check(schema[key], sub, f"{where}.{key}")
        return
    if schema is int and isinstance(value, bool) or not isinstance(value, schema):
        raise ConfigError(f"{where}: expected {schema.__name__}, got {value!r}")


def load_params(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, Any]:
    """params.yaml checked against its schema. Method names are not checked here: the method registry owns them
    (`methods.registry.check_method_names`, called by the command layer), and config stays below the methods that
    use `merge_known`."""
    params = load_yaml(path)
    _check(PARAMS_SCHEMA, params, str(path))
    missing = [k for k in ("profile", "seed", "size", "data", "testsets", "methods", "train") if k not in params]
    if missing:
        raise ConfigError(f"{path}: missing key(s) {missing}", fix="start from experiments/profiles/smoke.yaml")
    for key, entry in params["train"].items():
        _check({"method": str, "stage": str, "config": str}, entry, f"{path}: train.{key}")
    check_submissions(params, str(path))
    return params


SUBMISSION_KEYS = {"description", "url", "outputs"}
_SUBMISSION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def check_submissions(params: Mapping[str, Any], where: str) -> None:
    """params.yaml `submissions` (bfrbench.stages.submissions): names, keys, test sets, and every folder at
    submissions/NAME/TESTSET (the DVC stage depends on submissions/NAME/). A name of a registered method is refused by
    the method registry's check."""
    from bfrbench.paths import submission_dir

    for name, entry in (params.get("submissions") or {}).items():
        at = f"{where}: submissions.{name}"
        if not isinstance(name, str) or not _SUBMISSION_NAME.fullmatch(name):
            raise ConfigError(f"{at}: a name is letters, digits, '_', '.', '-' (starting with a letter)")
        if name in params.get("methods", []):
            raise ConfigError(f"{at}: {name!r} is also a row of `methods`", fix="give the submission another name")
        if not isinstance(entry, Mapping) or set(entry) - SUBMISSION_KEYS or "outputs" not in entry:
            raise ConfigError(f"{at}: expected {{description, url, outputs: {{TESTSET: DIR}}}}",
                              fix="write it with `bfrbench submit NAME --testset T --outputs DIR`")
        outputs = entry["outputs"]
        if not isinstance(outputs, Mapping) or not outputs:
            raise ConfigError(f"{at}.outputs: expected a mapping TESTSET -> folder")
        for testset, folder in outputs.items():
            if testset not in params["testsets"]:
                raise ConfigError(f"{at}.outputs: no test set named {testset!r}",
                                  fix=f"test sets: {', '.join(params['testsets'])}")
            if Path(str(folder)) != submission_dir(name, testset):
                raise ConfigError(f"{at}.outputs.{testset}: {folder} is not {submission_dir(name, testset)}",
                                  fix="enter the folder with `bfrbench submit`, which copies it there (the DVC "
                                      "stage depends on submissions/NAME/)")


# Metric options a pipeline score gives by default: the identity-to-input metric compares with the test set's LQ faces.
DEFAULT_SCORE_OPTIONS = {"ids_arcface_r18_lq": {"lq_dir": "artifacts/testsets/{testset}/lq"}}


def score_metric_options(params: Mapping[str, Any], testset: str, metrics: list[str] | None,
                         extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The metric options of a pipeline score: DEFAULT_SCORE_OPTIONS, then params.yaml `score.options` (metric ->
    {key: value}), then the command line's; `{testset}` in a string value is the test set's name. Only the selected
    metrics' options are kept (a profile may set options for metrics it does not always run)."""
    table = (params.get("score") or {}).get("options") or {}
    if not isinstance(table, Mapping) or not all(isinstance(v, Mapping) for v in table.values()):
        raise ConfigError("params.yaml: score.options: expected metric -> {key: value}",
                          fix="e.g. score.options: {fid_folder: {reference_dir: data/ffhq512}}")
    merged: dict[str, dict[str, Any]] = {}
    for source in (DEFAULT_SCORE_OPTIONS, table, extra or {}):
        for metric, options in source.items():
            merged.setdefault(metric, {}).update(options)
    return {m: {k: v.format(testset=testset) if isinstance(v, str) else v for k, v in o.items()}
            for m, o in merged.items() if metrics is None or m in metrics}


def submissions_for(params: Mapping[str, Any], testset: str) -> list[str]:
    """The submissions with outputs for `testset`, in params order."""
    return [n for n, e in (params.get("submissions") or {}).items() if testset in (e.get("outputs") or {})]


# Sub-configs validated by their own consumer (a degradation block is checked by `preset_from_config`): an
# override replaces them whole instead of being merged key by key.
OWN_SCHEMA_KEYS = frozenset({"degradation"})


def merge_known(defaults: Mapping[str, Any], override: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Overlay `override` on `defaults`, refusing any key (at any depth) that `defaults` does not have."""
    out = copy.deepcopy(dict(defaults))
    for key, value in override.items():
        if key not in defaults:
            raise ConfigError(f"{where}: unknown key {key!r}", fix=f"valid keys: {', '.join(sorted(defaults))}")
        if key in OWN_SCHEMA_KEYS:
            out[key] = copy.deepcopy(value)
        elif isinstance(defaults[key], Mapping) and defaults[key] and isinstance(value, Mapping):
            out[key] = merge_known(defaults[key], value, f"{where}.{key}")
        else:
            out[key] = copy.deepcopy(value)
    return out


TINY_SUFFIX = "_tiny.yaml"


def tiny_config_path(config: str) -> str:
    """The tiny sibling of a stage config (`x/train_smoke.yaml` -> `x/train_tiny.yaml`) that the end-to-end DVC
    test trains: every stage of the smoke profile keeps one, so the whole graph is exercised in seconds."""
    stem = config[: -len(".yaml")] if config.endswith(".yaml") else config
    return (stem[: -len("_smoke")] if stem.endswith("_smoke") else stem) + TINY_SUFFIX
