"""Submitted outputs: a researcher's restored folders entered on the leaderboard without a method in the registry.

params.yaml `submissions: {NAME: {description, url, outputs: {TESTSET: submissions/NAME/TESTSET}}}`. Each is scored
by the same score runner as a method's restores (`bfrbench score --method NAME --testset T` reads its folder instead
of `results/`), in the DVC stage `score_submission@NAME`, whose dependency is the folder `submissions/NAME/`: the
outputs live under it, so DVC knows when they change (`bfrbench submit` copies them there after checking them).
The report marks their rows "submitted outputs".

Why a copy under `submissions/` and not any path: a DVC stage's dependencies are fixed paths; one folder per
submission lets `dvc.yaml` name it (`submissions/${key}`) whatever its test sets are. A large folder can be tracked
with `dvc add submissions/NAME` and pushed to the DVC remote like the data.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench.errors import BFRBenchError, ConfigError
from bfrbench.paths import submission_dir


def check_name(params: Mapping[str, Any], name: str, where: str) -> None:
    """A submission may not take a registered method's name, built-in or plugin (its scores would share the method's
    folder)."""
    from bfrbench.methods.registry import is_method

    if is_method(name):
        raise ConfigError(f"{where}: submissions.{name}: {name!r} is a registered method's name",
                          fix="give the submission another name")


def check_outputs(outputs: Path, testset_dir: Path, size: int | None) -> list[str]:
    """Every image decodes as 8-bit RGB of the test set's size, and the stems are the test set's LQ stems, one each.
    Returns the sorted stems; raises naming the first bad file."""
    from tqdm import tqdm

    from bfrbench.io.images import read_image
    from bfrbench.io.pairing import index_by_stem

    if not outputs.is_dir():
        raise BFRBenchError(f"{outputs}: not a folder", fix="pass --outputs DIR, the folder of restored faces")
    mine, lq = index_by_stem(outputs), index_by_stem(testset_dir / "lq")
    missing, extra = sorted(set(lq) - set(mine)), sorted(set(mine) - set(lq))
    if missing or extra:
        parts = ([f"{len(missing)} test face(s) have no output, e.g. {missing[0]}"] if missing else []) + \
            ([f"{len(extra)} file(s) match no test face, e.g. {mine[extra[0]].name}"] if extra else [])
        raise BFRBenchError(f"{outputs}: " + "; ".join(parts),
                            fix=f"one output per LQ face of {testset_dir / 'lq'}, named like it")
    for stem in tqdm(sorted(mine), desc="check outputs", unit="img"):
        read_image(mine[stem], size=size)  # names the file: undecodable, gray/RGBA/16-bit, wrong size
    return sorted(mine)


def write_submission_entry(params_path: Path, name: str, testset: str, description: str | None,
                           url: str | None) -> dict[str, Any]:
    """Add or update the entry in params.yaml. The `submissions:` block is rewritten (comments inside it are lost);
    every other line of the file is kept as it is."""
    import yaml

    from bfrbench.config import check_submissions, load_params
    from bfrbench.io.atomic import write_text_atomic

    params = load_params(params_path)
    subs = dict(params.get("submissions") or {})
    entry = dict(subs.get(name) or {})
    if description is not None:
        entry["description"] = description
    if url is not None:
        entry["url"] = url
    entry.setdefault("description", "")
    entry["outputs"] = {**(entry.get("outputs") or {}), testset: str(submission_dir(name, testset))}
    subs[name] = entry
    block = "submissions: # outputs entered with `bfrbench submit` (docs/submissions.md)\n" + "".join(
        "  " + line + "\n" for line in yaml.safe_dump(subs, sort_keys=False, width=1000).splitlines())
    lines = params_path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if re.match(r"submissions\s*:", ln)), None)
    if start is None:
        text = "".join(lines) + ("" if not lines or lines[-1].endswith("\n") else "\n") + block
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() and not lines[i][0].isspace()
                    and not lines[i].lstrip().startswith("#")), len(lines))
        text = "".join(lines[:start]) + block + "".join(lines[end:])
    check_submissions({**params, "submissions": yaml.safe_load(block)["submissions"]}, str(params_path))
    write_text_atomic(params_path, text)
    return entry


def submit(params_path: Path, name: str, testset: str, outputs: Path, description: str | None = None,
           url: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Check `outputs` against the test set, copy it to submissions/NAME/TESTSET (atomically; an existing folder
    only with `overwrite`), then record the entry in params.yaml."""
    from bfrbench import paths
    from bfrbench.config import check_submissions, load_params
    from bfrbench.io.atomic import atomic_dir

    params = load_params(params_path)
    if testset not in params["testsets"]:
        raise ConfigError(f"{params_path}: no test set named {testset!r}",
                          fix=f"test sets: {', '.join(params['testsets'])}")
    check_name(params, name, str(params_path))
    check_submissions({**params, "submissions": {name: {"outputs": {testset: str(submission_dir(name, testset))}}}},
                      str(params_path))
    testset_dir = paths.testset_dir(testset)
    if not (testset_dir / "lq").is_dir():
        raise BFRBenchError(f"{testset_dir}: the test set is not made yet",
                            fix=f"run `dvc repro testset@{testset}` (or `bfrbench testset make {testset}`)")
    stems = check_outputs(Path(outputs), testset_dir, params.get("size"))
    dst = submission_dir(name, testset)
    if Path(outputs).resolve() != dst.resolve():
        from bfrbench.io.pairing import index_by_stem

        files = index_by_stem(outputs)
        with atomic_dir(dst, overwrite=overwrite) as tmp:
            for stem in stems:
                shutil.copyfile(files[stem], tmp / files[stem].name)
    entry = write_submission_entry(Path(params_path), name, testset, description, url)
    return {"name": name, "testset": testset, "images": len(stems), "folder": str(dst), "entry": entry}
