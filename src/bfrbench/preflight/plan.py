"""Which stages a preflight runs, in the graph's order, and the config each one runs with.

The stages are those of dvc.yaml: every `train:` entry of the profile, the `link` rows (ablations reusing another
method's models), and `train_of` (unet_l1_of on FLIPNET-degraded pairs, after `degrade@flipnet`). Each runs its REAL
config; the only changes are the ones a preflight needs (device count, accelerator, step count, checkpoint period),
the data workers the machine can host, what `--batch-size` / `--size` ask for, and what the method's own
`preflight_config` hook changes because weights are absent. Every change is a note in the table.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bfrbench.errors import ConfigError

TRAIN_OF = "train_of"


@dataclass(frozen=True)
class StageSpec:
    key: str  # the train key (codeformer-vqgan), the link row (codeformer_w1) or train_of
    method: str
    stage: str
    config: str  # the profile's config file for the stage
    kind: str  # "train", "link" or "train_of"
    needs: tuple[str, ...] = ()  # methods whose models it reads (a link's `uses`; train_of: flipnet)


@dataclass(frozen=True)
class Options:
    steps: int = 1
    devices: int | None = None
    accelerator: str | None = None
    batch_size: int | None = None
    size: int | None = None
    why: str = "to fit this machine"
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    native_bf16: bool = field(default_factory=lambda: cpu_has_native_bf16())


@dataclass
class StageRun:
    """A stage's preflight config and what it was configured with (the projection uses the latter)."""

    spec: StageSpec
    config: dict[str, Any]
    notes: list[str]
    random_weights: bool = False
    work_scale: float = 1.0
    trains: bool = False  # has a Lightning `trainer` block (else: a card, a closed-form fit or a link)
    configured: dict[str, Any] = field(default_factory=dict)  # devices, batch_size, max_steps, ... as configured
    preflight: dict[str, Any] = field(default_factory=dict)  # the same keys as run here


def profile_stages(params: Mapping[str, Any], links: Mapping[str, Mapping[str, Any]]) -> list[StageSpec]:
    """Every training stage of the profile in dvc.yaml's order: train entries, link rows, then train_of."""
    stages = [StageSpec(key, e["method"], e["stage"], e["config"], "train") for key, e in params["train"].items()]
    trained = {s.method for s in stages}
    for name, item in links.items():
        if name in params["methods"] and item["uses"] in trained:
            stages.append(StageSpec(name, name, "link", item["config"], "link", (item["uses"],)))
    plus_of = (params.get("flipnet") or {}).get("plus_of_config")
    if plus_of and "unet_l1_of" in params["methods"]:
        stages.append(StageSpec(TRAIN_OF, "unet_l1_of", "train", plus_of, TRAIN_OF, ("flipnet",)))
    return stages


def select(stages: Sequence[StageSpec], wanted: Iterable[str] | None) -> list[StageSpec]:
    """`wanted` (keys or method names) and every stage they read (earlier stages of the same method, the used
    method's stages), in graph order; None = all."""
    if not wanted:
        return list(stages)
    wanted = list(wanted)
    known = {s.key for s in stages} | {s.method for s in stages}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ConfigError(f"--stages: unknown {unknown}", fix=f"choose from {[s.key for s in stages]}")
    keep: set[str] = set()

    def add(spec: StageSpec) -> None:
        if spec.key in keep:
            return
        keep.add(spec.key)
        index = stages.index(spec)
        for earlier in stages[:index]:
            if earlier.method == spec.method or earlier.method in spec.needs:
                add(earlier)

    for spec in stages:
        if spec.key in wanted or spec.method in wanted:
            add(spec)
    return [s for s in stages if s.key in keep]


def _set(cfg: dict[str, Any], path: str, value: Any) -> None:
    node = cfg
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX). Without it torch emulates bf16 autocast: on a
    2-core AMD EPYC without AVX-512 a U-Net step took 151 s in bf16-mixed against 3.1 s in fp32 (docs/preflight.md)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return True  # cannot tell: keep the configured precision
    flags = set(cpuinfo.split())
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def max_steps(steps: int) -> int:
    """trainer.max_steps of both runs: the first stops at the first batch end at or past `steps`, the second does
    one batch more (1 or 2 optimizer steps) and exports."""
    return 2 * steps + 2


def worker_cap(cpus: int, devices: int) -> int:
    """Data workers per process the machine can host: its CPUs shared by the processes, one core each kept for the
    training step itself."""
    return max(0, cpus // max(1, devices) - 1)


def stage_run_config(spec: StageSpec, raw: Mapping[str, Any], method, profile_size: int, opts: Options) -> StageRun:
    """The preflight config of one stage: the real config `raw` with the preflight's changes, each noted."""
    from bfrbench.training.stage import merged_config
    from bfrbench.training.trainer import trainer_config

    size = opts.size or profile_size
    cfg = copy.deepcopy(dict(raw))
    merged = merged_config(method, spec.stage, cfg, spec.config)
    run = StageRun(spec, cfg, [])
    if isinstance(merged.get("trainer"), Mapping):
        run.trains = True
        t = trainer_config(merged["trainer"], f"{spec.config}: trainer")
        data = merged.get("data") or {}
        configured_devices = t["devices"] if isinstance(t["devices"], int) and t["devices"] > 0 else 1
        devices = min(opts.devices, configured_devices) if opts.devices else configured_devices
        accelerator = opts.accelerator or t["accelerator"]
        run.configured = {"devices": configured_devices, "num_nodes": int(t["num_nodes"]),
                          "accelerator": t["accelerator"], "strategy": t["strategy"], "precision": t["precision"],
                          "max_steps": int(t["max_steps"]), "batch_size": int(data.get("batch_size", 0)),
                          "num_workers": int(data.get("num_workers", 0)), "size": profile_size}
        # max_steps leaves room for one more batch after the stop at N even at 2 optimizer steps per batch (GANs
        # under manual optimisation); the same in both runs, as the resume folder is keyed by the config
        overrides = {"trainer.devices": devices, "trainer.num_nodes": 1, "trainer.accelerator": accelerator,
                     "trainer.max_steps": max_steps(opts.steps), "trainer.checkpoint_every_n_steps": opts.steps,
                     "trainer.resume": True}
        if accelerator == "cpu" and "bf16" in str(t["precision"]) and not opts.native_bf16:
            overrides["trainer.precision"] = "32-true"
            run.notes.append(f"precision {t['precision']} -> 32-true: this CPU has no native bf16 (torch emulates "
                             f"it, ~50x slower); fp32 memory is an upper bound for the configured precision")
        for path, value in overrides.items():
            _set(cfg, path, value)
        workers = min(run.configured["num_workers"], worker_cap(opts.cpus, devices))
        if workers < run.configured["num_workers"]:
            _set(cfg, "data.num_workers", workers)
            run.notes.append(f"data.num_workers {run.configured['num_workers']} -> {workers}: {opts.cpus} CPUs "
                             f"for {devices} process(es), one core each kept for the step")
        batch = run.configured["batch_size"]
        if opts.batch_size and opts.batch_size < batch:
            _set(cfg, "data.batch_size", opts.batch_size)
            run.notes.append(f"batch size {batch} -> {opts.batch_size} per device (--batch-size, {opts.why})")
            batch = opts.batch_size
        real_batch = (merged.get("data") or {}).get("real_pairs_batch_size")
        if opts.batch_size and (merged.get("data") or {}).get("real_pairs") and real_batch and \
                opts.batch_size < real_batch:  # the second loader of FLIPNET's diffusion stage, cut alike
            _set(cfg, "data.real_pairs_batch_size", opts.batch_size)
            run.notes.append(f"real-pair batch size {real_batch} -> {opts.batch_size} per device (--batch-size)")
        if size != profile_size:
            run.notes.append(f"size {profile_size} -> {size} px (--size, {opts.why})")
        run.preflight = {"devices": devices, "accelerator": accelerator, "max_steps": max_steps(opts.steps),
                         "precision": overrides.get("trainer.precision", t["precision"]),
                         "batch_size": batch, "num_workers": workers, "size": size}
        if configured_devices * run.configured["num_nodes"] > devices:
            run.notes.append(f"{devices} of the configured {configured_devices * run.configured['num_nodes']} "
                             f"devices")
        if accelerator != t["accelerator"]:
            run.notes.append(f"accelerator {t['accelerator']} -> {accelerator}")
        start = (merged.get("loss") or {}).get("adversarial_start")
        if isinstance(start, int) and start > max_steps(opts.steps):
            run.notes.append(f"discriminator idle in these steps (loss.adversarial_start {start}), as in a real run's "
                             f"first {start} steps")
    hook = getattr(method, "preflight_config", None)
    if hook is not None:
        change = hook(spec.stage, cfg, size)
        run.config, run.random_weights, run.work_scale = change.config, change.random_weights, change.work_scale
        run.notes.extend(change.notes)
    merged_config(method, spec.stage, run.config, f"{spec.config} (preflight)")  # the changed config still validates
    return run


def degrade_config(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The data config of `degrade@flipnet` for train_of: a few FLIPNET-degraded pairs are all its loader needs."""
    cfg = {**dict(raw), "limit": 2, "variants": 1, "batch_size": 2, "sampler_steps": 2}
    return cfg, ["its FLIPNET pairs: degrade@flipnet on 2 faces, 1 variant, 2 DDIM steps (the pairs only feed the "
                 "data loader here)"]


def dvc_links(root: Path) -> dict[str, dict[str, Any]]:
    """dvc.yaml's `link` rows: name -> {uses, config, ...}."""
    import yaml

    path = Path(root) / "dvc.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: not found", fix="run bfrbench preflight from the repository root")
    stages = (yaml.safe_load(path.read_text()) or {}).get("stages", {})
    return dict((stages.get("link") or {}).get("foreach") or {})
