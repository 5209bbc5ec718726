"""Command handlers behind `bfrbench` (imported only after argument parsing; each imports what it needs)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from bfrbench import paths
from bfrbench.errors import BFRBenchError, ConfigError


def _say(msg: str) -> None:
    print(f"bfrbench: {msg}", flush=True)


def _params(args):
    from bfrbench.config import load_params
    from bfrbench.methods.registry import check_method_names

    params = load_params(args.params)
    check_method_names(params, str(args.params))
    return params


def cmd_data(args) -> int:
    if args.data_cmd == "celeba-hq512":
        return cmd_data_celeba_hq512(args)
    if args.data_cmd == "real-pairs":
        return cmd_data_real_pairs(args)
    if args.data_cmd == "smoke":
        from bfrbench.data.smoke import build_smoke_faces

        summary = build_smoke_faces(Path(args.out), size=args.size, seed=args.seed, min_face=args.min_face,
                                    overwrite=args.overwrite, progress=not args.no_progress)
        _say(f"wrote the smoke face set to {args.out}/ ({json.dumps(summary.get('faces', {}))})")
        return 0
    if args.data_cmd == "lmdb":
        from bfrbench.stages.prepare import folder_to_lmdb

        result = folder_to_lmdb(Path(args.hq), Path(args.out), size=args.size, progress=not args.no_progress)
        _say(f"wrote {result['images']} faces to {args.out}/ (data.mdb, meta_info.txt)")
        return 0
    params = _params(args)
    from bfrbench.stages.prepare import prepare_faces

    summary = prepare_faces(params, Path(args.out), overwrite=args.overwrite, progress=not args.no_progress)
    counts = json.dumps(summary.get("faces", {}))
    _say(f"wrote the face set to {args.out}/ (manifest.csv, summary.json; counts {counts})")
    return 0


def cmd_data_celeba_hq512(args) -> int:
    from bfrbench.data.celeba_hq import make_celeba_hq512

    result = make_celeba_hq512(Path(args.src), Path(args.out), overwrite=args.overwrite, progress=not args.no_progress)
    _say(f"wrote {result['count']:,} faces at 512 px (DifFace's INTER_LINEAR halving, <source stem>.png) to "
         f"{args.out}/ and {result['manifest']} (name, source, sha256)")
    return 0


def cmd_data_real_pairs(args) -> int:
    from bfrbench.config import load_yaml
    from bfrbench.data.real_pairs_check import check_real_pairs

    specs = (load_yaml(args.config).get("data") or {}).get("real_pairs")
    if not specs:
        raise ConfigError(f"{args.config}: no data.real_pairs", fix="name the sets under data.real_pairs")
    rows = check_real_pairs(specs, progress=not args.no_progress)
    for r in rows:
        standard = "" if r["standard"] is None else (
            " (the standard training split)" if r["pairs"] == r["standard"] else
            f" (the standard training split has {r['standard']:,}: another subset)")
        print(f"{r['name']:<14} {r['kind']:<11} {r['pairs']:>6,} pairs{standard}  {r['root']}")
    _say(f"checked {sum(r['pairs'] for r in rows):,} real pairs in {len(rows)} sets named by {args.config}: every "
         "pair matched by name, decoded, one size per pair (nothing written)")
    return 0


def cmd_seeds(args) -> int:
    from bfrbench.engine.devices import DeviceConfig, device_config
    from bfrbench.stages.seeds import run_seeds
    from bfrbench.tracking import stage_run

    params = _params(args)
    if args.testset not in params["testsets"]:
        raise ConfigError(f"{args.params}: no test set named {args.testset!r}")
    restore = device_config(params.get("restore") or {}, "restore")
    # in-process workers: the command line, re-executed by plain DDP for every rank, would run every seed again
    devices = DeviceConfig(restore.accelerator, restore.devices, "ddp_spawn") if restore.devices > 1 else restore
    out = paths.seeds_dir(args.method, args.testset)
    with stage_run(f"seeds/{args.method}/{args.testset}", params["profile"],
                   {"seeds": int((params.get("restore") or {}).get("seeds", 1))}) as run:
        summary = run_seeds(params, args.method, args.testset, out, devices, overwrite=args.overwrite,
                            progress=not args.no_progress)
        run.log_metrics({f"{m}.{k}": e[k] for m, e in (summary.get("metrics") or {}).items() for k in ("mean", "std")})
    what = summary.get("note") or f"{summary['seeds']} seeds, mean and std of {len(summary['metrics'])} metrics"
    _say(f"wrote {out}/summary.json ({what})")
    return 0


def cmd_submit(args) -> int:
    from bfrbench.stages.submissions import submit

    args.params = args.params or "params.yaml"
    done = submit(Path(args.params), args.name, args.testset, Path(args.outputs), args.description, args.url,
                  overwrite=args.overwrite)
    _say(f"copied {done['images']} checked outputs to {done['folder']}/ and wrote submissions.{args.name} in "
         f"{args.params}; `dvc repro` scores them (stage score_submission@{args.name}) and ranks them in the report")
    return 0


def cmd_testset(args) -> int:
    if args.testset_cmd == "verify":
        return cmd_testset_verify(args)
    if args.testset_cmd in ("synthetic", "difface-grid"):
        from bfrbench.stages.testsets import make_testset

        if args.testset_cmd == "synthetic":
            spec = {"kind": "synthetic", "hq": args.hq, "degradation": args.preset, "seed": args.seed,
                    "limit": args.limit}
        else:
            spec = {"kind": "difface_grid", "hq": args.hq, "seed": args.seed, "limit": args.limit}
        out = Path(args.out)
        meta = make_testset(out.name, spec, {"seed": args.seed, "size": args.size}, None, out,
                            overwrite=args.overwrite, progress=not args.no_progress)
        _say(f"wrote {meta['count']} LQ/HQ pairs to {out}/ (lq/, hq/, manifest.csv with per-image parameters)")
        return 0
    params = _params(args)
    if args.name not in params["testsets"]:
        raise ConfigError(f"{args.params}: no test set named {args.name!r}",
                          fix=f"defined: {sorted(params['testsets'])}")
    from bfrbench.stages.testsets import make_testset
    from bfrbench.tracking import stage_run

    out = Path(args.out) if args.out else paths.testset_dir(args.name)
    spec = params["testsets"][args.name]
    with stage_run(f"testset/{args.name}", params["profile"], {"testset": args.name, "spec": spec,
                                                               "seed": params["seed"], "size": params["size"]}) as run:
        meta = make_testset(args.name, spec, params, paths.FACES, out, overwrite=args.overwrite,
                            progress=not args.no_progress)
        run.log_metrics({"count": meta["count"]})
        run.log_artifact(out / "manifest.csv")
        run.log_artifact(out / "meta.json")
    folders = "lq/, hq/" if meta["has_gt"] else "lq/"
    _say(f"wrote test set {args.name} ({meta['count']} faces) to {out}/ ({folders}, manifest.csv)")
    return 0


def cmd_testset_verify(args) -> int:
    from bfrbench.data.official_testsets import default_root, official_testset, verify_testset

    spec = official_testset(args.name)
    root = Path(args.root) if args.root else default_root(args.name)
    result = verify_testset(spec, root, overwrite=args.overwrite, progress=not args.no_progress)
    what = f"{result['count']:,} LQ/HQ pairs paired by name" if spec.paired else f"{result['count']:,} LQ images"
    for folder, sizes in result["sizes"].items():
        print(f"  {folder} sizes (WxH x images): {sizes}")
    if not result["sums_written"]:
        sums = f"every file matches {result['sums']}"
    elif result["sums_replaced"]:
        sums = f"replaced {result['sums']} with the sha256 of the current {result['files']:,} files"
    else:
        sums = f"wrote {result['sums']} ({result['files']:,} sha256 sums; later runs check the files against it)"
    fixed = f", {spec.size}x{spec.size}" if spec.size else ""
    _say(f"verified {spec.title} in {root}/: {what} (the official count), every file 8-bit RGB{fixed}, names unique; "
         f"{sums}")
    return 0


def cmd_train(args) -> int:
    params = _params(args)
    from bfrbench.stages.train import run_train

    callbacks = None
    if args.probe:  # bfrbench preflight: measure this run (and stop it after --stop-after optimizer steps)
        from bfrbench.preflight.probe import PreflightProbe

        callbacks = [PreflightProbe(Path(args.probe), args.stop_after)]
    out = run_train(args.method, args.stage, args.config, params, Path(args.out) if args.out else None,
                    progress=not args.no_progress, callbacks=callbacks)
    from bfrbench.tracking import is_rank_zero

    if not is_rank_zero():  # the other DDP ranks (Lightning's, torchrun's or srun's) wrote nothing to report
        return 0
    files = ", ".join(name for name in ("card.json", "curve.json") if (out / name).is_file())
    _say(f"wrote {args.method}/{args.stage} to {out}/ (see {files})")
    if not (args.check or args.record):
        return 0
    from bfrbench.training.curves import check_against_reference, format_comparison, record_reference

    reference = Path(args.reference) if args.reference else None
    if args.record:
        path = record_reference(out, args.config, params["seed"], params["size"], args.overwrite, reference)
        _say(f"recorded the reference loss curve in {path}")
        return 0
    result = check_against_reference(out, args.config, params["seed"], params["size"], reference)
    print(format_comparison(result), flush=True)
    return 0 if result["ok"] else 1


def cmd_restore(args) -> int:
    from bfrbench.engine.devices import device_config
    from bfrbench.stages.restore import run_restore

    params = None
    if args.lq is None:
        if args.testset is None:
            raise BFRBenchError("restore needs a test set name or --lq DIR")
        args.params = args.params or "params.yaml"
        params = _params(args)
        if args.testset not in params["testsets"]:
            raise ConfigError(f"{args.params}: no test set named {args.testset!r}")
        lq_dir = paths.testset_dir(args.testset) / "lq"
    else:
        lq_dir = Path(args.lq)
        if args.params:  # a folder restored with a profile's settings (bfrbench preflight does this)
            params = _params(args)
    name = args.testset or Path(args.lq).name
    out = Path(args.out) if args.out else paths.result_dir(args.method, name)
    restore_cfg = (params or {}).get("restore", {})
    devices = device_config(restore_cfg, "restore", **_device_args(args), device=args.device)
    work = Path(args.work) if args.work else (paths.restore_work_dir(args.method, args.testset) if args.lq is None
                                              else None)
    meta = run_restore(
        args.method, lq_dir, out, Path(args.models) if args.models else paths.model_dir(args.method),
        batch_size=int(restore_cfg.get("batch_size", 8)), devices=devices,
        overwrite=args.overwrite, convert=args.convert_images, size=(params or {}).get("size"),
        progress=not args.no_progress, profile=(params or {}).get("profile", "adhoc"), testset=args.testset,
        sampling=_sampling(params, args.method), work=work, restart=args.restart,
        speed_file=paths.speed_file(args.method, args.testset) if args.lq is None and not args.out else None,
    )
    if meta is None:  # another rank: rank 0 writes and reports
        return 0
    per_image = meta["seconds_per_image"]
    speed = f"{per_image:.3f} s/face per device, " if per_image is not None else ""
    _say(f"wrote {meta['images']} restored faces to {out}/ ({meta['images_restored']} restored now, {speed}"
         f"NFE {meta['nfe']:g}; speed figures in {meta['speed_file']})")
    return 0


def _device_args(args) -> dict:
    """--accelerator / --devices / --strategy / --num-nodes, for bfrbench.engine.devices.device_config."""
    return {"accelerator": args.accelerator, "devices": args.devices, "strategy": args.strategy,
            "num_nodes": args.num_nodes}


def _sampling(params, method: str) -> dict:
    """params.yaml `sampling.<method>`; in a profile every row of `methods` has one (the DVC restore stage tracks
    it)."""
    if params is None:
        return {}
    table = params.get("sampling") or {}
    if method in params.get("methods", []) and method not in table:
        raise ConfigError(f"params.yaml: sampling.{method} is missing",
                          fix=f"add `{method}: {{}}` under `sampling:` (experiments/profiles/smoke.yaml shows each)")
    return dict(table.get(method) or {})


def _flipnet_data_config(args, params):
    from bfrbench.stages.degrade import load_data_config

    path = args.config or (params.get("flipnet") or {}).get("config")
    if not path:
        raise ConfigError(f"{args.params}: no flipnet.config", fix="pass --config experiments/flipnet/data_smoke.yaml")
    return load_data_config(path)


def _restore_device(params) -> str:
    """The torch device of params.yaml's `restore` block (FLIPNET's degradation mode samples where restores run)."""
    block = params.get("restore", {})
    if "device" in block:  # the old key
        return str(block["device"])
    return "cuda" if block.get("accelerator") == "gpu" else "cpu"


def cmd_degrade(args) -> int:
    from bfrbench.stages.degrade import degrade_faces
    from bfrbench.tracking import stage_run

    params = _params(args)
    cfg = _flipnet_data_config(args, params)
    out = Path(args.out) if args.out else Path("artifacts/degraded") / args.method
    with stage_run(f"degrade/{args.method}", params["profile"], {"method": args.method, "config": cfg}) as run:
        meta = degrade_faces(args.method, cfg, params, paths.FACES, Path(args.models or paths.model_dir("flipnet")),
                             out, overwrite=args.overwrite, progress=not args.no_progress,
                             device=args.device or _restore_device(params))
        run.log_metrics({"count": meta["count"]})
    _say(f"wrote {meta['count']} LQ/HQ pairs to {out}/ (lq/, hq/, manifest.csv, meta.json; {meta['source']})")
    return 0


def cmd_realism(args) -> int:
    from bfrbench.stages.realism import measure_realism
    from bfrbench.tracking import stage_run

    params = _params(args)
    cfg = _flipnet_data_config(args, params)
    with stage_run("realism", params["profile"], {"config": cfg}) as run:
        summary = measure_realism(cfg, Path("artifacts/degraded"), Path(args.out), overwrite=args.overwrite)
        run.log_metrics({f"{s}/{m}": e["value"] for s, r in summary["sets"].items() for m, e in r.items()
                         if isinstance(e.get("value"), float) and math.isfinite(e["value"])})
    for name, row in summary["sets"].items():
        print(f"  {name:<8} " + "  ".join(f"{m}={e.get('value', e.get('unavailable'))}" for m, e in row.items()))
    _say(f"wrote {args.out}/summary.json and {args.out}/metrics.json")
    return 0


def cmd_score(args) -> int:
    from bfrbench.engine.devices import device_config
    from bfrbench.engine.scoring import score_folders
    from bfrbench.io.atomic import check_can_write, write_text_atomic

    if args.submission:  # every test set of a submission, each exactly as a method's (the DVC score_submission stage)
        from bfrbench.config import submissions_for

        args.params = args.params or "params.yaml"
        params = _params(args)
        if args.submission not in (params.get("submissions") or {}):
            raise ConfigError(f"{args.params}: no submission named {args.submission!r}",
                              fix="enter one with `bfrbench submit NAME --testset T --outputs DIR`")
        for testset in (t for t in params["testsets"] if args.submission in submissions_for(params, t)):
            one = argparse.Namespace(**{**vars(args), "submission": None, "method": args.submission,
                                        "testset": testset, "out": None})
            cmd_score(one)
        return 0
    metrics, batch_size, score_cfg = args.metrics, args.batch_size, {}
    if args.method or args.testset:
        if not (args.method and args.testset):
            raise BFRBenchError("pipeline mode needs both --method and --testset")
        params = _params(args)
        if args.testset not in params["testsets"]:
            raise ConfigError(f"{args.params}: no test set named {args.testset!r}")
        pred = paths.result_dir(args.method, args.testset)
        if args.method in (params.get("submissions") or {}):  # a submission's folder, scored like a method's
            from bfrbench.config import submissions_for

            if args.method not in submissions_for(params, args.testset):
                raise ConfigError(f"{args.params}: submission {args.method!r} has no outputs for {args.testset!r}",
                                  fix=f"bfrbench submit {args.method} --testset {args.testset} --outputs DIR")
            pred = paths.submission_dir(args.method, args.testset)
        gt_dir = paths.testset_dir(args.testset) / "hq"
        gt = gt_dir if gt_dir.is_dir() else None
        out = Path(args.out) if args.out else paths.score_dir(args.method, args.testset)
        score_cfg = params.get("score", {})
        metrics = metrics or score_cfg.get("metrics")
        batch_size = int(score_cfg.get("batch_size", batch_size))
        from bfrbench.config import score_metric_options

        options = score_metric_options(params, args.testset, metrics, _metric_options(args.option))
    else:
        if not (args.pred and args.out):
            raise BFRBenchError("score needs --pred DIR and --out DIR (or --method and --testset)")
        pred, gt, out = Path(args.pred), Path(args.gt) if args.gt else None, Path(args.out)
        options = _metric_options(args.option)
    # Without ground truth, the full-reference metrics asked for are kept: the engine reports them "not applicable".
    if not args.overwrite and args.no_resume:
        check_can_write(out / "summary.json", overwrite=False)
    devices = device_config(score_cfg, "score", **_device_args(args))
    from bfrbench.tracking import stage_run

    profile = params["profile"] if args.method else "adhoc"
    run_name = f"score/{args.method}/{args.testset}" if args.method else f"score/{pred}"
    with stage_run(run_name, profile, {"pred": str(pred), "gt": str(gt), "metrics": metrics or "all",
                                       "batch_size": batch_size, "accelerator": devices.accelerator,
                                       "devices": devices.devices, "num_nodes": devices.num_nodes}) as run:
        summary = score_folders(pred, gt, metrics=metrics, out_dir=out, batch_size=batch_size,
                                metric_options=options, resume=not args.no_resume,
                                convert=args.convert_images, progress=not args.no_progress, devices=devices)
        if summary is None:  # another rank: rank 0 writes and reports
            return 0
        flat = {}
        for name, entry in summary.get("metrics", {}).items():
            if "unavailable" in entry:
                print(f"  {name:<16} {entry['unavailable']}")
                continue
            value = entry.get("value")
            flat[name] = value if isinstance(value, (int, float)) and math.isfinite(value) else str(value)
            print(f"  {name:<16} {value:.4f}  ({entry.get('unit', '')})" if isinstance(value, float)
                  else f"  {name:<16} {value}")
        write_text_atomic(out / "metrics.json", json.dumps(flat, indent=2, sort_keys=True) + "\n")
        run.log_metrics(flat)
        for name in ("summary.json", "per_image.csv", "metrics.json"):
            run.log_artifact(out / name)
    _say(f"wrote {out}/per_image.csv, {out}/summary.json and {out}/metrics.json")
    return 0


def _metric_options(items: list[str]) -> dict[str, dict[str, object]]:
    """`METRIC.KEY=VALUE` strings -> {metric: {key: value}}; values are parsed as YAML scalars (numbers, booleans)."""
    import yaml

    from bfrbench.metrics.registry import get_spec

    options: dict[str, dict[str, object]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        metric, dot, key = target.partition(".")
        if not (sep and dot and metric and key):
            raise ConfigError(f"--option {item!r} is not METRIC.KEY=VALUE",
                              fix="e.g. --option frechet_dlib.reference_dir=path/to/faces")
        get_spec(metric)
        options.setdefault(metric, {})[key] = yaml.safe_load(raw) if raw else raw
    return options


def cmd_report(args) -> int:
    params = _params(args)
    from bfrbench.report.leaderboard import build_report
    from bfrbench.tracking import stage_run

    logged = {"methods": params["methods"], "testsets": list(params["testsets"])}
    with stage_run("report", params["profile"], logged) as run:
        written = build_report(params, Path(args.out), progress=not args.no_progress)
        run.log_artifact(Path(args.out))
        if written["speed"]:
            run.log_artifact(written["speed"])
    speed = f"; restore speed (measured, not reproducible) to {written['speed']}" if written["speed"] else ""
    out = Path(args.out)
    figures = sorted(out.rglob("*.svg"))
    _say(f"wrote the leaderboard to {written['markdown']}, {written['html']} (open it in a browser), "
         f"{written['latex']} (LaTeX) and {written['csv']} (CSV); {len(figures)} plots (PNG + SVG) under {out}"
         f"{speed}")
    return 0


def cmd_profile(args) -> int:
    import shutil

    profiles = Path("experiments/profiles")
    src = profiles / f"{args.name}.yaml"
    if not src.is_file():
        raise ConfigError(f"{src}: no such profile",
                          fix=f"available: {sorted(p.stem for p in profiles.glob('*.yaml'))}")
    target = Path("params.yaml")
    if target.is_file() and not args.overwrite:
        current = target.read_text()
        if not any(current == p.read_text() for p in profiles.glob("*.yaml")):
            raise BFRBenchError("params.yaml has edits that no profile holds; they would be lost",
                                fix="save them as experiments/profiles/<name>.yaml, or pass --overwrite")
    from bfrbench.io.atomic import atomic_path

    with atomic_path(target) as tmp:
        shutil.copyfile(src, tmp)
    _say(f"wrote params.yaml from {src}; run `dvc repro` to run the {args.name} profile")
    return 0


def cmd_preflight(args) -> int:
    from bfrbench.preflight.run import run_preflight

    return run_preflight(args)


def cmd_metrics(args) -> int:
    from bfrbench.metrics.registry import METRICS

    for name, spec in METRICS.items():
        arrow = "higher" if spec.higher_better else "lower"
        kind = "FR" if spec.full_reference else "NR"
        print(f"{name:<18} {kind}  {arrow} is better  [{spec.unit}]  {spec.protocol}")
    return 0


def cmd_weights(args) -> int:
    from bfrbench.assets import cache_dir, fetch
    from bfrbench.errors import AssetError
    from bfrbench.weights import WEIGHTS, get_asset, status

    if args.weights_cmd == "list":
        for name, asset in WEIGHTS.items():
            verified = "" if asset.sha256 else "  [no official sha256: unverified]"
            print(f"{name:<28} {status(asset)}{verified}\n{'':<28} {asset.urls[0]}  ({', '.join(asset.tags)})")
        print(f"cache: {cache_dir()}; local override: $BFRBENCH_WEIGHTS_DIR")
        return 0
    names = args.names or [n for n, a in WEIGHTS.items() if args.tag is None or args.tag in a.tags]
    failed = []
    for name in names:
        asset = get_asset(name)
        try:
            path = fetch(asset, download=True, progress=True)
            _say(f"{name}: {path}")
        except AssetError as exc:
            failed.append(name)
            print(f"bfrbench: {name}: {exc}", file=sys.stderr)
    if failed:
        raise AssetError(f"could not fetch: {', '.join(failed)}", fix="see the messages above (offline? wrong file?)")
    _say(f"fetched {len(names)} weights file(s) into {cache_dir()}")
    return 0


def cmd_methods(args) -> int:
    """Every method, built-in and plugin (entry-point group bfrbench.methods), with its stages, origin and description;
    a broken plugin is an error naming its entry point (bfrbench.methods.registry)."""
    from bfrbench.methods.registry import all_method_specs

    specs = all_method_specs()
    name_w = max(len(name) for name in specs)
    stages_w = max(len(", ".join(spec.stages)) for spec in specs.values())
    origin_w = max(len(spec.origin) for spec in specs.values())
    for name, spec in specs.items():
        print(f"{name:<{name_w}}  stages: {', '.join(spec.stages):<{stages_w}}  {spec.origin:<{origin_w}}  "
              f"{spec.description}")
    return 0
