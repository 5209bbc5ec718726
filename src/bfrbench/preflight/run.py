"""`bfrbench preflight`: run every training stage of a profile through the real runner, then restore and score.

Each stage runs as `python -m bfrbench.cli train METHOD STAGE --config OUT/configs/... --params OUT/params.yaml`
with cwd=OUT, twice: once stopped after N optimizer steps (the checkpoint of step N is written), then the same
command again, which must resume from that checkpoint, do step N+1 and export. Later stages read the earlier ones'
outputs in OUT/models exactly as in the real graph. Subprocesses, because Lightning's DDP re-executes the command
line for the other ranks. The training subprocesses write no MLflow runs (BFRBENCH_NO_MLFLOW=1); the preflight
writes one.
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bfrbench.errors import BFRBenchError, ConfigError
from bfrbench.preflight.plan import TRAIN_OF, Options, StageRun, StageSpec

WORK_MARKER = ".bfrbench-preflight"
OWNED = ("checkpoints", "models", "probes", "logs", "results", "scores", "configs", "artifacts/degraded",
         "artifacts/lq_set", "artifacts/real_pairs_standin")


def _say(msg: str) -> None:
    print(f"bfrbench: preflight: {msg}", flush=True)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["BFRBENCH_NO_MLFLOW"] = "1"  # one MLflow run for the whole preflight, not one per subprocess
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bfrbench.cli", "--no-progress", *args]


def _tail(text: str, lines: int = 12) -> str:
    """The error's last lines: a traceback's end, or the CLI's `bfrbench: error:` message."""
    kept = [ln for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(kept):
        if line.startswith("bfrbench: error:"):
            return "\n".join(kept[i : i + lines])
    return "\n".join(kept[-lines:])


def _signal_note(returncode: int) -> str:
    """What a death by signal means: the log ends mid-run without an error, so say it."""
    if returncode >= 0:
        return ""
    sig = -returncode
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    note = f"killed by {name} ({sig})"
    if sig == signal.SIGKILL:
        note += (": on Linux most often the kernel's out-of-memory killer (the stage's processes needed more memory "
                 "than was free; `dmesg` names the victim); give the machine more memory or fewer --devices")
    return note


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc; a zombie is dead already, and one whose parent
    died waits for whoever reaps orphans (in a container that may be nobody)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _reap_group(pgid: int, grace: float) -> bool:
    """Wait up to `grace` seconds for a command's process group to empty, then kill what is left; True when
    something was left.

    Lightning's DDP launcher starts ranks 1..N-1 as children of rank 0; when rank 0 dies (killed, or an error on
    rank 0 only), they wait in a collective until the backend's timeout (30 min for gloo) and hold their memory.
    The command runs in its own session, so its whole group can be found and killed once it returns. The grace
    lets ranks that are merely finishing (writing their probe file) end on their own."""
    deadline = time.monotonic() + grace
    while _group_members(pgid):
        if time.monotonic() >= deadline:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return True
        time.sleep(0.2)
    return False


def run_logged(cmd: Sequence[str], cwd: Path, log: Path, env: Mapping[str, str]) -> tuple[int, float, str]:
    """(exit code, seconds, the error's last lines) of one command; its output goes to `log`.

    The command runs in a new session; processes of it still alive when it returns (orphaned DDP ranks) are
    killed, and the error says so."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdout=f, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            returncode = proc.wait()
        except BaseException:  # Ctrl-C reaches only our own session: end the command's too
            _reap_group(proc.pid, grace=0.0)
            raise
    seconds = time.perf_counter() - t0
    left = _reap_group(proc.pid, grace=120.0 if returncode == 0 else 10.0)
    if returncode == 0:
        return 0, seconds, ""
    err = _tail(log.read_text(encoding="utf-8"))
    disk_full = "No space left on device" in err
    notes = [n for n in (_signal_note(returncode),
                         f"the disk of {cwd} is full ({shutil.disk_usage(cwd).free / 2**30:.1f} GiB free now): a "
                         "training stage holds up to three checkpoints at once (step, last, final), and the paper "
                         "DifFace prior's are 2.3 GB each; free space or pass --out on a larger disk"
                         if disk_full else "",
                         "processes of it were still running and were killed (ranks waiting for a dead rank)"
                         if left else "") if n]
    head = f"exit {returncode}" + (f"; {'; '.join(notes)}" if notes else "") + f" (log: {log})"
    return returncode, seconds, head + "\n" + err


def prepare_work(out: Path) -> None:
    """OUT is the preflight's own folder: refuse anyone else's; clear what an earlier preflight left (a resume
    folder from an earlier preflight would make the runs train nothing)."""
    if out.exists() and any(out.iterdir()) and not (out / WORK_MARKER).is_file():
        raise BFRBenchError(f"{out}: exists and is not a preflight folder", fix="pass --out to a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / WORK_MARKER).write_text("made by bfrbench preflight; everything here may be deleted\n")
    for name in OWNED:
        shutil.rmtree(out / name, ignore_errors=True)


def _write_yaml(path: Path, data: Mapping[str, Any]) -> None:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False))


def _config_path(spec_config: str) -> str:
    """OUT-relative place of a stage's preflight config: configs/<method folder>/<file>."""
    p = Path(spec_config)
    return str(Path("configs") / p.parent.name / p.name)


def _step_checkpoint(out: Path, spec: StageSpec, steps: int) -> bool:
    return any((out / "checkpoints" / spec.method / spec.stage).glob(f"*/checkpoints/step{steps:07d}.ckpt"))


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def run_stage(run: StageRun, out: Path, steps: int, env: Mapping[str, str],
              keep_checkpoints: bool = False) -> dict[str, Any]:
    """Run one stage (twice when it trains) and return its entry for preflight.json.

    The stage's checkpoint folder is measured (`checkpoint_bytes`: one checkpoint, the rest of a real run's are
    the same size) and then deleted unless `keep_checkpoints`: later stages read only the exported models, and the
    paper profile's checkpoints add up to tens of GB (the SD 2.1 backbone's alone are several GB each)."""
    from bfrbench.preflight.measure import read_probes, summarize

    spec = run.spec
    rel = _config_path(spec.config)
    _write_yaml(out / rel, run.config)
    entry: dict[str, Any] = {"key": spec.key, "method": spec.method, "stage": spec.stage, "kind": spec.kind,
                             "config": spec.config, "preflight_config": rel, "trains": run.trains,
                             "random_weights": run.random_weights, "work_scale": run.work_scale,
                             "notes": list(run.notes), "configured": run.configured, "preflight": run.preflight}
    cmd = _cli("train", spec.method, spec.stage, "--config", rel, "--params", "params.yaml")
    logs = out / "logs" / spec.key
    if not run.trains:
        rc, seconds, err = run_logged(cmd, out, logs.with_suffix(".log"), env)
        entry.update(status="pass" if rc == 0 else "fail", run_seconds=[seconds], error=err or None)
        return entry
    probes = out / "probes" / spec.key
    rc1, s1, err = run_logged([*cmd, "--probe", str(probes / "first.json"), "--stop-after", str(steps)], out,
                              logs.with_suffix(".first.log"), env)
    seconds = [s1]
    stopped = min((int(r.get("end_step", -1)) for r in read_probes(probes / "first.json")), default=-1)
    if rc1 == 0 and not _step_checkpoint(out, spec, stopped):
        err = f"the first run (stopped at step {stopped}) wrote no checkpoint of that step"
    if rc1 == 0 and not err:  # the same command: it resumes, does one batch more, exports
        rc2, s2, err = run_logged([*cmd, "--probe", str(probes / "resumed.json"), "--stop-after", str(stopped + 1)],
                                  out, logs.with_suffix(".resumed.log"), env)
        seconds.append(s2)
    measured = summarize(read_probes(probes / "first.json"), read_probes(probes / "resumed.json"))
    resumed = (measured.get("resumed_from_step"), measured.get("resumed_to_step"))
    if not err and not (resumed[0] == stopped and (resumed[1] or 0) > stopped):
        err = f"the second run did not resume from step {stopped} (it ran {resumed[0]} -> {resumed[1]})"
        if len(list((out / "checkpoints" / spec.method / spec.stage).iterdir())) > 1:
            err += ("; it trained in another resume folder: the package's code changed between the two runs (the "
                    "folder is keyed by it): run the preflight on a source tree nobody edits meanwhile")
    if not err and not (out / "models" / spec.method / spec.stage / "card.json").is_file():
        err = "the resumed run exported nothing (no card.json)"
    ckpts = out / "checkpoints" / spec.method / spec.stage
    step_files = sorted(ckpts.glob("*/checkpoints/step*.ckpt"))
    entry["checkpoint_bytes"] = step_files[-1].stat().st_size if step_files else None
    entry["checkpoint_folder_bytes"] = _tree_bytes(ckpts)
    if not keep_checkpoints:
        shutil.rmtree(ckpts, ignore_errors=True)
    entry.update(status="fail" if err else "pass", run_seconds=seconds, measured=measured, error=err or None)
    return entry


def check_method(method: str, out: Path, metrics: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
    """Restore the LQ set with the method's preflight models and score it with the profile's metrics."""
    import json

    logs = out / "logs" / "methods"
    rc, seconds, err = run_logged(_cli("restore", method, "--lq", "artifacts/lq_set/lq", "--models",
                                       f"models/{method}", "--out", f"results/{method}", "--params", "params.yaml",
                                       "--overwrite"), out, logs / f"{method}.restore.log", env)
    entry: dict[str, Any] = {"method": method, "restore_seconds": seconds}
    if rc != 0:
        return {**entry, "status": "fail", "summary": "restore failed", "error": err}
    rc, score_seconds, err = run_logged(_cli("score", "--pred", f"results/{method}", "--gt", "artifacts/lq_set/hq",
                                             "--metrics", *metrics, "--out", f"scores/{method}", "--no-resume",
                                             "--overwrite"), out, logs / f"{method}.score.log", env)
    entry["score_seconds"] = score_seconds
    if rc != 0:
        return {**entry, "status": "fail", "summary": "score failed", "error": err}
    summary = json.loads((out / "scores" / method / "summary.json").read_text())
    # which metrics ran, never their values: preflight outputs are not results (random weights, few steps)
    computed = [n for n, e in summary["metrics"].items() if "unavailable" not in e]
    unavailable = {n: e["unavailable"] for n, e in summary["metrics"].items() if "unavailable" in e}
    text = f"restored in {seconds:.0f} s; {len(computed)} metrics computed, {len(unavailable)} unavailable"
    if unavailable:
        text += f" ({', '.join(unavailable)})"
    return {**entry, "status": "pass", "summary": text, "metrics_computed": computed,
            "metrics_unavailable": unavailable}


def _methods_to_check(params: Mapping[str, Any], stages: Sequence[StageSpec],
                      results: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str | None]]:
    """(method, why it is skipped or None) for every method of the profile whose stages this preflight ran."""
    out = []
    for method in params["methods"]:
        own = [s for s in stages if s.method == method]
        if not own:
            continue
        needed = own + [s for s in stages if s.method in {n for o in own for n in o.needs}]
        failed = [s.key for s in needed if results[s.key]["status"] != "pass"]
        out.append((method, f"skipped: {', '.join(failed)} failed" if failed else None))
    return out


def preflight_params(params: Mapping[str, Any], size: int, accelerator: str | None) -> dict[str, Any]:
    """OUT/params.yaml: the profile at the preflight's size, restores on the preflight's device, FLIPNET's data
    configs pointing at OUT's copies."""
    p = copy.deepcopy(dict(params))
    p["size"] = size
    restore = {k: v for k, v in (p.get("restore") or {}).items() if k != "device"}  # `device`: the old spelling
    if accelerator:
        restore["accelerator"] = accelerator
    # 2 faces on one process: the restore proves the method loads its preflight models (scaling is issue 14's)
    p["restore"] = {**restore, "batch_size": 2, "devices": 1, "num_nodes": 1}
    if p.get("flipnet"):
        p["flipnet"] = {k: _config_path(v) for k, v in p["flipnet"].items()}
    return p


def _sampling_notes(params: dict[str, Any], methods: Sequence[str]) -> list[str]:
    """Each method's `preflight_sampling` hook (fewer sampler steps: restore proves the restorer runs)."""
    from bfrbench.methods.registry import get_method

    notes = []
    for name in methods:
        hook = getattr(get_method(name), "preflight_sampling", None)
        if hook is None:
            continue
        block = dict((params.get("sampling") or {}).get(name) or {})
        change = hook(block)
        params.setdefault("sampling", {})[name] = change.config
        notes.extend(f"{name}: {n}" for n in change.notes)
    return notes


def run_preflight(args) -> int:
    from bfrbench.config import load_params, load_yaml
    from bfrbench.methods.registry import check_method_names, get_method
    from bfrbench.preflight.faces import make_lq_set, prepare_faces
    from bfrbench.preflight.plan import dvc_links, profile_stages, select, stage_run_config
    from bfrbench.preflight.table import document, dumps, render

    if args.steps < 1:
        raise ConfigError(f"--steps {args.steps}", fix="at least 1 (then one more step after the resume)")
    profile_file = Path("experiments/profiles") / f"{args.profile}.yaml"
    if not profile_file.is_file():
        raise ConfigError(f"{profile_file}: no such profile", fix="run from the repository root; use smoke or paper")
    params = load_params(profile_file)
    check_method_names(params, str(profile_file))
    stages = select(profile_stages(params, dvc_links(Path("."))), args.stages)
    size = int(args.size or params["size"])
    opts = Options(steps=args.steps, devices=args.devices, accelerator=args.accelerator, batch_size=args.batch_size,
                   size=args.size, why=args.why)
    out = Path(args.out).resolve()
    prepare_work(out)
    env = _env()
    t_start = time.perf_counter()
    notes = prepare_faces(out, args.data, size, env)
    if size != params["size"]:
        notes.append(f"size {params['size']} -> {size} px for every stage (--size, {args.why})")
    runs = [stage_run_config(spec, load_yaml(spec.config), get_method(spec.method), int(params["size"]), opts)
            for spec in stages]
    pf_params = preflight_params(params, size, args.accelerator)
    methods = [m for m in params["methods"] if any(s.method == m for s in stages)]
    notes.extend(_sampling_notes(pf_params, methods))
    _write_yaml(out / "params.yaml", pf_params)
    _, lq_notes = make_lq_set(out, pf_params, size)
    notes.extend(lq_notes)
    if any("real_pairs_standin" in repr(run.config) for run in runs):  # a stage's real pairs are absent (its note)
        make_lq_set(out, pf_params, size, count=4, dst=out / "artifacts" / "real_pairs_standin")
    results: dict[str, dict[str, Any]] = {}
    for run in runs:
        failed = _failed_upstream(run.spec, stages, results)
        if failed:
            results[run.spec.key] = _skipped(run, f"skipped: {', '.join(failed)} failed")
            _say(f"{run.spec.key}: {results[run.spec.key]['error']}")
            continue
        if run.spec.kind == TRAIN_OF:
            if not _degrade_for_train_of(run, out, params["flipnet"]["config"], args.accelerator, env, results):
                continue
        _say(f"{run.spec.key}: {'training' if run.trains else 'running'} ...")
        results[run.spec.key] = entry = run_stage(run, out, args.steps, env, args.keep_checkpoints)
        _say(f"{run.spec.key}: {entry['status']}" + (f"\n{entry['error']}" if entry.get("error") else ""))
    checked = []
    for method, skip in _methods_to_check(params, stages, results):
        if skip:
            checked.append({"method": method, "status": "skip", "summary": skip})
            continue
        _say(f"{method}: restore + score ...")
        checked.append(check_method(method, out, (params.get("score") or {}).get("metrics") or [], env))
    context = {"profile": args.profile, "size": size, "steps": args.steps, "devices": args.devices,
               "accelerator": args.accelerator, "batch_size": args.batch_size, "out": str(out),
               "seconds": time.perf_counter() - t_start, "notes": notes,
               "command": "bfrbench " + " ".join(sys.argv[1:])}
    doc = document([results[s.key] for s in stages if s.key in results], checked, context)
    from bfrbench.io.atomic import write_text_atomic

    write_text_atomic(out / "preflight.json", dumps(doc))
    print(render(doc), flush=True)
    from bfrbench.preflight.tracking import log_run

    run_id = log_run(doc, out, params["profile"])
    where = f"{out}/preflight.json" + (f" and MLflow run {run_id} (experiment bfrbench-{params['profile']})"
                                       if run_id else "")
    _say(f"{'all stages passed' if doc['ok'] else 'FAILED: ' + ', '.join(doc['failed'])}; "
         f"{doc['seconds']:.0f} s; wrote {where}; logs in {out}/logs/")
    return 0 if doc["ok"] else 1


def _failed_upstream(spec: StageSpec, stages: Sequence[StageSpec], results: Mapping[str, Mapping[str, Any]]):
    """Earlier stages this one reads (same method, or a method it needs) that did not pass."""
    return [s.key for s in stages[: stages.index(spec)] if s.key in results and results[s.key]["status"] != "pass"
            and (s.method == spec.method or s.method in spec.needs)]


def _skipped(run: StageRun, why: str) -> dict[str, Any]:
    return {"key": run.spec.key, "method": run.spec.method, "stage": run.spec.stage, "kind": run.spec.kind,
            "trains": run.trains, "status": "skip", "notes": run.notes, "configured": run.configured,
            "preflight": run.preflight, "random_weights": run.random_weights, "error": why}


def _degrade_for_train_of(run: StageRun, out: Path, data_config: str, accelerator: str | None,
                          env: Mapping[str, str], results: dict[str, dict[str, Any]]) -> bool:
    """degrade@flipnet before train_of (its data.extra_pairs); False (and a failed entry) when it fails."""
    from bfrbench.config import load_yaml
    from bfrbench.preflight.plan import degrade_config

    rel = _config_path(data_config)
    cfg, notes = degrade_config(load_yaml(data_config))
    _write_yaml(out / rel, cfg)
    run.notes.extend(notes)
    device = "cuda" if accelerator == "gpu" else "cpu"
    _say("degrade@flipnet (for train_of) ...")
    rc, _, err = run_logged(_cli("degrade", "--method", "flipnet", "--config", rel, "--params", "params.yaml",
                                 "--models", "models/flipnet", "--out", "artifacts/degraded/flipnet", "--overwrite",
                                 "--device", device), out, out / "logs" / "degrade_flipnet.log", env)
    if rc == 0:
        return True
    results[run.spec.key] = {**_skipped(run, f"degrade@flipnet failed:\n{err}"), "status": "fail"}
    return False
