"""The suite's paper configs against the official CodeFormer and DifFace training recipes (issue 15, items 2 and 3).

tests/methods/data/official_recipes.yaml holds the official values, transcribed from the public repositories (each
with its repository, file, commit and key path), and where the suite keeps each one. The tests build the MERGED
paper configs (method defaults + the config file, as `bfrbench train` does) and compare. They fail when

- a suite value differs from the official one and is not listed under `deviations:`;
- a listed deviation's suite value changed (each deviation pins it): now the official value -> remove the deviation,
  anything else -> revisit it;
- a key of a merged config is neither compared nor listed under `not_compared:` (a new option, e.g. a scheduler key,
  needs an entry).

Some recipe facts are no config key (the optimizer's weight decay, the LR scheduler, the VQ commitment beta, ...):
PROBES derive them from the merged config and the suite's code. The optimizers and schedulers are the ones the
stage's own `configure_optimizers` returns, called on a stand-in whose networks are one `Linear(1, 1)`: no real
network is built, so the whole file runs in seconds.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/methods/data/official_recipes.yaml"
PAPER_PROFILE = ROOT / "experiments/profiles/paper.yaml"
ISSUE_15 = "not implemented yet (issue 15 item 1)"
UNDECIDED = "found by the recipe test, not yet decided"


@functools.cache
def _fixture() -> dict[str, Any]:
    return yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))


def fixture() -> dict[str, Any]:
    return copy.deepcopy(_fixture())


def build_merged(name: str) -> dict[str, Any]:
    """The merged config of suite config `name` (e.g. codeformer/vqgan), its trainer block completed with the
    trainer defaults as run_stage does (so gradient clipping, precision and accumulation are there too)."""
    from bfrbench.config import load_yaml
    from bfrbench.methods.registry import get_method
    from bfrbench.training.stage import merged_config
    from bfrbench.training.trainer import trainer_config

    spec = _fixture()["suite"][name]
    cfg = merged_config(get_method(spec["method"]), spec["stage"], load_yaml(ROOT / spec["config"]), spec["config"])
    cfg["trainer"] = trainer_config(cfg.get("trainer"), f"{spec['config']}: trainer")
    return cfg


@functools.cache
def _paper_configs() -> dict[str, dict[str, Any]]:
    return {name: build_merged(name) for name in _fixture()["suite"]}


def paper_configs() -> dict[str, dict[str, Any]]:
    """Every suite config of the fixture, merged (a copy: tests may change it)."""
    return copy.deepcopy(_paper_configs())


def get_path(tree: Any, dotted: str) -> Any:
    node = tree
    for part in dotted.split("."):
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(f"no key {dotted!r}")
    return node


def plain(value: Any) -> Any:
    """Tuples to lists, recursively (YAML has lists only)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    """Equal values: numbers to 1e-9 relative, bools only to bools, lists and tuples alike, dicts key by key."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


# ----------------------------------------------------------------------------------------------- optimizers


def configure_optimizers(spec: dict[str, str], cfg: dict[str, Any]) -> Any:
    """What the stage's `configure_optimizers` returns for this config, called on a stand-in: the networks are one
    Linear(1, 1) each, the hyper-parameters are what the method passes to the stage's LightningModule."""

    def tiny() -> torch.nn.Module:
        return torch.nn.Linear(1, 1)

    trainer = SimpleNamespace(max_steps=cfg["trainer"]["max_steps"])
    method, stage = spec["method"], spec["stage"]
    if method == "codeformer":
        from bfrbench.methods.codeformer import modules

        cls = {"vqgan": modules.VQGANStage, "transformer": modules.CodePredictionStage, "cft": modules.CFTStage}[stage]
        stand_in = SimpleNamespace(net=tiny(), disc=tiny(), trainer=trainer,
                                   hparams=SimpleNamespace(optim=cfg["optim"], losses=cfg["loss"]))
        stand_in._adam = functools.partial(modules._Stage._adam, stand_in)
        stand_in._optimizers_with_schedules = functools.partial(modules._Stage._optimizers_with_schedules, stand_in)
        return cls.configure_optimizers(stand_in)
    if method == "difface":
        from bfrbench.methods.difface import modules

        optim = cfg["optim"]
        if stage == "estimator":  # EstimatorStage(arch, lr, lr_min), as difface/method.py builds it
            hparams = SimpleNamespace(lr=optim["lr"], lr_min=optim["lr_min"])
            return modules.EstimatorStage.configure_optimizers(SimpleNamespace(net=tiny(), hparams=hparams,
                                                                               trainer=trainer))
        # PriorStage(arch, T, lr, ema, schedule)
        hparams = SimpleNamespace(lr=optim["lr"], ema_decay=cfg["ema"]["decay"], schedule=optim.get("schedule"))
        return modules.PriorStage.configure_optimizers(SimpleNamespace(net=tiny(), hparams=hparams, trainer=trainer))
    raise AssertionError(f"no optimizer stand-in for {method}/{stage}")


def optimizers_and_schedulers(out: Any) -> tuple[list[torch.optim.Optimizer], list[list[tuple[Any, str]]]]:
    """Lightning's configure_optimizers return forms -> the optimizers and, per optimizer, its (scheduler, interval)
    pairs (Lightning steps a scheduler given without a dict once per epoch)."""
    optimizers: list[torch.optim.Optimizer] = []
    schedulers: list[tuple[Any, str]] = []

    def add_scheduler(s: Any) -> None:
        if isinstance(s, dict):
            schedulers.append((s["scheduler"], s.get("interval", "epoch")))
        else:
            schedulers.append((s, "epoch"))

    def add(item: Any) -> None:
        if isinstance(item, dict):
            optimizers.append(item["optimizer"])
            if item.get("lr_scheduler") is not None:
                add_scheduler(item["lr_scheduler"])
        else:
            optimizers.append(item)

    if isinstance(out, (list, tuple)) and len(out) == 2 and isinstance(out[0], (list, tuple)):
        for item in out[0]:
            add(item)
        for s in out[1]:
            add_scheduler(s)
    elif isinstance(out, (list, tuple)):
        for item in out:
            add(item)
    else:
        add(out)
    per_optimizer = [[(s, i) for s, i in schedulers if s.optimizer is opt] for opt in optimizers]
    return optimizers, per_optimizer


def describe_optimizer(opt: torch.optim.Optimizer) -> dict[str, Any]:
    group = opt.param_groups[0]
    weight_decay = float(group.get("weight_decay", 0.0))
    name = type(opt).__name__
    # AdamW with weight decay 0 makes exactly Adam's update: both are "Adam" then.
    algorithm = "Adam" if name in ("Adam", "AdamW") and weight_decay == 0 else name
    return {"algorithm": algorithm, "lr": float(group.get("initial_lr", group["lr"])),
            "betas": [float(b) for b in group.get("betas", ())], "eps": group.get("eps"),
            "weight_decay": weight_decay}


def describe_scheduler(s: Any, per: str) -> tuple[dict[str, Any], Any]:
    """(the schedule after any warm-up, the warm-up length in iterations) of one torch scheduler."""
    sched = torch.optim.lr_scheduler
    if isinstance(s, sched.CosineAnnealingLR):
        return {"type": "cosine", "T_max": s.T_max, "eta_min": float(s.eta_min), "per": per}, 0
    if isinstance(s, sched.MultiStepLR):
        return {"type": "multistep", "milestones": sorted(s.milestones.elements()), "gamma": float(s.gamma),
                "per": per}, 0
    if isinstance(s, sched.ConstantLR) and s.factor == 1:
        return {"type": "constant"}, 0
    if isinstance(s, sched.LinearLR) and s.end_factor == 1:
        return {"type": "constant"}, s.total_iters if per == "iteration" else f"{s.total_iters} per {per}"
    if isinstance(s, sched.SequentialLR) and isinstance(s._schedulers[0], sched.LinearLR):
        warm = s._schedulers[0]
        # the ramp reaches the lr at its last step (total_iters) and the schedule takes over one step later
        if len(s._schedulers) == 2 and warm.end_factor == 1 and s._milestones == [warm.total_iters + 1]:
            after, _ = describe_scheduler(s._schedulers[1], per)
            length = s._milestones[0]
            return after, length if per == "iteration" else f"{length} per {per}"
    return {"type": f"{type(s).__name__}: teach describe_scheduler in {Path(__file__).name} to describe it"}, None


def schedule_of(spec: dict[str, str], cfg: dict[str, Any], index: int) -> tuple[dict[str, Any], Any]:
    optimizers, schedulers = optimizers_and_schedulers(configure_optimizers(spec, cfg))
    pairs = schedulers[index]
    if not pairs:
        return {"type": "constant"}, 0
    if len(pairs) > 1:
        return {"type": f"{len(pairs)} schedulers on one optimizer: teach schedule_of to combine them"}, None
    sched, interval = pairs[0]
    return describe_scheduler(sched, "iteration" if interval == "step" else interval)


# ----------------------------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class Probe:
    """A recipe fact derived from a merged config: `reads` are the config keys it depends on (they count as
    compared in the coverage test)."""

    reads: tuple[str, ...]
    fn: Callable[[dict[str, str], dict[str, Any]], Any]


def _total_batch(spec, cfg):
    t = cfg["trainer"]
    return cfg["data"]["batch_size"] * t["devices"] * t["num_nodes"] * t["accumulate_grad_batches"]


def _optimizer(index: int):
    def fn(spec, cfg):
        optimizers, _ = optimizers_and_schedulers(configure_optimizers(spec, cfg))
        if index >= len(optimizers):
            raise KeyError(f"the stage has {len(optimizers)} optimizer(s), no optimizer {index}")
        return describe_optimizer(optimizers[index])

    return fn


def _optimizer_count(spec, cfg):
    return len(optimizers_and_schedulers(configure_optimizers(spec, cfg))[0])


def _ema_warmup(spec, cfg):
    from bfrbench.training.ema import warmup_decay

    d = cfg["ema"]["decay"]
    updates = (0, 1, 10, 100, 1000, 10**5, 10**7)
    if all(warmup_decay(d, n) == d for n in updates):
        return "none"
    if all(math.isclose(warmup_decay(d, n), min(d, (1 + n) / (10 + n))) for n in updates):
        return "min(decay, (1 + n) / (10 + n))"
    return "another warm-up: describe it in _ema_warmup"


def _adaptive_weight_max(spec, cfg):
    from bfrbench.methods.codeformer.losses import adaptive_weight

    return inspect.signature(adaptive_weight).parameters["max_weight"].default


def _vq_beta(spec, cfg):
    from bfrbench.archs.vqgan import VQAutoEncoder

    return cfg["arch"].get("beta", inspect.signature(VQAutoEncoder).parameters["beta"].default)


def _train_size(spec, cfg):
    """The paper profile's `size`: the resolution every training stage of that profile reads its faces at."""
    return yaml.safe_load(PAPER_PROFILE.read_text(encoding="utf-8"))["size"]


def _train_share(spec, cfg):
    """The share of the paper profile's face folder in its train split (what the training stages read)."""
    return yaml.safe_load(PAPER_PROFILE.read_text(encoding="utf-8"))["data"]["folder"]["split"][0]


def _degradation(spec, cfg):
    from bfrbench.data.degradation import preset_from_config

    preset = preset_from_config(cfg["data"]["degradation"])
    branches = [{"gt_gray": False, **plain(asdict(b))} for b in preset.branches]  # no gt_gray field: never gray HQ
    return {"branches": branches, "branch_probs": list(preset.branch_probs),
            **{f"{key}s": [b[key] for b in branches]
               for key in ("kernel_size", "aniso_prob", "gray_prob", "color_jitter_prob")}}


def _drop_path_rate(spec, cfg):
    from bfrbench.archs.swinir import SwinIRUnshuffle

    param = inspect.signature(SwinIRUnshuffle).parameters.get("drop_path_rate")
    return cfg["arch"].get("drop_path_rate", 0.0 if param is None else param.default)


def _beta_schedule(spec, cfg):
    from bfrbench.methods.difface import modules
    from bfrbench.methods.difface.diffusion import linear_betas

    if "linear_betas(" not in inspect.getsource(modules.PriorStage.__init__):
        return {"type": "PriorStage no longer uses linear_betas: describe its schedule in _beta_schedule"}
    steps = cfg["diffusion_steps"]
    betas = linear_betas(steps)
    if not np.allclose(betas, np.linspace(betas[0], betas[-1], steps), rtol=0, atol=1e-15):
        return {"type": "not linear"}
    return {"type": "linear", "beta_start": float(betas[0] * steps / 1000), "beta_end": float(betas[-1] * steps / 1000)}


def _phase_spans(cfg):
    """(first iteration, last iteration, phase) of CFTStage's phases at the config's max_steps (1-based)."""
    from bfrbench.methods.codeformer.phases import check_phases

    steps, start, spans = cfg["trainer"]["max_steps"], 1, []
    for phase in check_phases(cfg["phases"], "codeformer/cft"):
        end = max(1, round(phase["until"] * steps))
        spans.append((start, end, phase))
        start = end + 1
    return spans


def _fidelity_schedule(spec, cfg):
    return [[start, phase["w"]] for start, _, phase in _phase_spans(cfg)]


def _mild_large_schedule(spec, cfg):
    # CFTStage.training_step: a mild iteration when iteration % mild_every == 0 (phase_end: the phase's last
    # iteration), else the large LQ (data.lq_per_branch's lq_b1) with the code losses only
    rows: list[list[int]] = []
    for start, end, phase in _phase_spans(cfg):
        every = end if phase["mild_every"] == "phase_end" else phase["mild_every"]
        if not rows or rows[-1][1] != every:
            rows.append([start, every])
    other = ("large degradation (in_large_de), code losses only, no GAN or discriminator step"
             if cfg["data"]["lq_per_branch"] else "none")
    return {"mild_full_loss_every": rows, "other_iterations": other}


PROBES: dict[str, Probe] = {
    "total_batch": Probe(("data.batch_size", "trainer.devices", "trainer.num_nodes", "trainer.accumulate_grad_batches"),
                         _total_batch),
    "optimizer_g": Probe(("optim",), _optimizer(0)),
    "optimizer_d": Probe(("optim",), _optimizer(1)),
    "optimizer_count": Probe(("optim",), _optimizer_count),
    "lr_schedule_g": Probe(("optim", "trainer.max_steps"), lambda spec, cfg: schedule_of(spec, cfg, 0)[0]),
    "lr_schedule_d": Probe(("optim", "trainer.max_steps"), lambda spec, cfg: schedule_of(spec, cfg, 1)[0]),
    "lr_warmup": Probe(("optim", "trainer.max_steps"), lambda spec, cfg: schedule_of(spec, cfg, 0)[1]),
    "ema_warmup": Probe(("ema.decay",), _ema_warmup),
    "adaptive_weight_max": Probe((), _adaptive_weight_max),
    "vq_beta": Probe(("arch.beta",), _vq_beta),
    "train_size": Probe((), _train_size),
    "train_share": Probe((), _train_share),
    "degradation": Probe(("data.degradation",), _degradation),
    "drop_path_rate": Probe(("arch.drop_path_rate",), _drop_path_rate),
    "beta_schedule": Probe(("diffusion_steps",), _beta_schedule),
    "fidelity_schedule": Probe(("w", "phases"), _fidelity_schedule),
    "mild_large_schedule": Probe(("data.degradation", "data.lq_per_branch", "phases"), _mild_large_schedule),
}


# ----------------------------------------------------------------------------------------------- the comparison


def suite_value(entry: dict[str, Any], configs: dict[str, dict[str, Any]]) -> Any:
    cfg = configs[entry["suite_config"]]
    if "suite_key" in entry:
        try:
            return get_path(cfg, entry["suite_key"])
        except KeyError:
            if entry.get("suite_absent_ok"):
                return None
            raise
    name, _, sub = entry["suite_probe"].partition(".")
    value = PROBES[name].fn(_fixture()["suite"][entry["suite_config"]], cfg)
    return get_path(value, sub) if sub else value


def where(entry: dict[str, Any]) -> str:
    fx = _fixture()
    src = fx["sources"][entry["source"]]
    key = entry.get("suite_key") or f"probe {entry['suite_probe']}"
    suite = f"{fx['suite'][entry['suite_config']]['config']} {key}"
    return f"suite {suite}; official {src['repo']}/{src['path']}@{src['commit'][:8]} {entry['official_key']}"


def recipe_problems(configs: dict[str, dict[str, Any]]) -> list[str]:
    """Every disagreement between the fixture and `configs` (suite config name -> merged config), one line each."""
    fx = _fixture()
    deviations = fx.get("deviations") or {}
    problems = []
    for entry in fx["entries"]:
        eid, official = entry["id"], entry["official"]
        try:
            suite = suite_value(entry, configs)
        except KeyError as exc:
            problems.append(f"{eid}: {exc.args[0]} ({where(entry)})")
            continue
        deviation = deviations.get(eid)
        if deviation is None:
            if not same(official, suite):
                problems.append(f"{eid}: the suite has {suite!r}, the official recipe {official!r}, and this is not "
                                f"listed under deviations ({where(entry)})")
        elif same(official, suite):
            problems.append(f"{eid}: listed under deviations, but the suite now has the official value {official!r}: "
                            f"remove the deviation ({where(entry)})")
        elif not same(deviation["suite"], suite):
            problems.append(f"{eid}: the deviation pins the suite value {deviation['suite']!r}, the suite now has "
                            f"{suite!r} (official {official!r}): revisit the deviation ({where(entry)})")
    ids = {e["id"] for e in fx["entries"]}
    problems += [f"deviation {d}: no entry with that id" for d in deviations if d not in ids]
    return problems


def leaves(tree: Any, prefix: str = "") -> list[str]:
    if isinstance(tree, dict) and tree:
        return [leaf for k, v in tree.items() for leaf in leaves(v, f"{prefix}{k}.")]
    return [prefix[:-1]]


def uncovered_keys(name: str, cfg: dict[str, Any]) -> list[str]:
    """Keys of merged config `name` that no entry compares (directly or through a probe's `reads`) and that
    `not_compared` does not excuse."""
    fx = _fixture()
    covered = set(fx["not_compared"].get("*") or {}) | set(fx["not_compared"].get(name) or {})
    for entry in fx["entries"]:
        if entry["suite_config"] != name:
            continue
        if "suite_key" in entry:
            covered.add(entry["suite_key"])
        else:
            covered.update(PROBES[entry["suite_probe"].partition(".")[0]].reads)
    return [leaf for leaf in leaves(cfg)
            if not any(leaf == c or leaf.startswith(c + ".") for c in covered)]


# ----------------------------------------------------------------------------------------------- tests

EXPONENT_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_fixture_is_well_formed():
    fx = fixture()
    for name, src in fx["sources"].items():
        assert set(src) == {"repo", "path", "commit"}, name
        assert re.fullmatch(r"[0-9a-f]{40}", src["commit"]), f"{name}: a full commit hash"
    for name, spec in fx["suite"].items():
        assert (ROOT / spec["config"]).is_file(), spec["config"]
        assert name == f"{spec['method']}/{spec['stage']}"
    ids = [e["id"] for e in fx["entries"]]
    assert len(ids) == len(set(ids)), "entry ids must be unique"
    allowed = {"id", "suite_config", "suite_key", "suite_probe", "suite_absent_ok", "source", "official_key",
               "official", "official_raw", "note"}
    for e in fx["entries"]:
        assert set(e) <= allowed, f"{e['id']}: unknown fields {set(e) - allowed}"
        assert {"suite_config", "source", "official_key", "official"} <= set(e), e["id"]
        assert e["suite_config"] in fx["suite"] and e["source"] in fx["sources"], e["id"]
        assert ("suite_key" in e) != ("suite_probe" in e), f"{e['id']}: one of suite_key / suite_probe"
        if "suite_probe" in e:
            assert e["suite_probe"].partition(".")[0] in PROBES, e["id"]
        # PyYAML reads 1e-4 (no dot) as text: write 1.0e-4
        assert not any(EXPONENT_TEXT.match(s) for s in _strings(e["official"])), f"{e['id']}: a number read as text"
    for eid, dev in fx["deviations"].items():
        assert set(dev) == {"suite", "reason"} and dev["reason"].strip(), eid
    # the reasons are the issue's item, a documented one (naming the doc), or an open finding
    for eid, dev in fx["deviations"].items():
        reason = dev["reason"]
        assert reason == ISSUE_15 or reason.startswith(UNDECIDED) or "docs/" in reason, f"{eid}: {reason}"


def test_paper_profile_trains_these_configs():
    trains = {(t["method"], t["stage"], t["config"])
              for t in yaml.safe_load(PAPER_PROFILE.read_text(encoding="utf-8"))["train"].values()}
    for spec in _fixture()["suite"].values():
        assert (spec["method"], spec["stage"], spec["config"]) in trains


def test_paper_configs_follow_the_official_recipes():
    problems = recipe_problems(paper_configs())
    assert not problems, "\n".join(problems)


def test_every_merged_key_is_compared_or_excused():
    configs = paper_configs()
    missing = {name: uncovered_keys(name, cfg) for name, cfg in configs.items()}
    missing = {k: v for k, v in missing.items() if v}
    assert not missing, (f"keys with no recipe entry (add one to {FIXTURE.name}, or list it under not_compared with "
                         f"a reason): {missing}")


def test_a_changed_value_is_reported():
    """The comparison can fail: a learning rate and a batch size changed in a copy of the merged configs."""
    configs = paper_configs()
    configs["codeformer/vqgan"]["optim"]["lr"] = 1e-4
    configs["codeformer/cft"]["data"]["batch_size"] = 4
    problems = recipe_problems(configs)
    for eid in ("codeformer/vqgan/lr_g", "codeformer/vqgan/lr_g_built", "codeformer/vqgan/lr_d",
                "codeformer/cft/batch_per_gpu", "codeformer/cft/total_batch"):
        assert any(p.startswith(f"{eid}: the suite has ") for p in problems), eid
    assert len(problems) == 5, problems
    assert not recipe_problems(paper_configs()), "the changes were made in a copy"


def test_a_deviation_that_changed_is_reported():
    """A listed deviation cannot rot: reaching the official value, or any other value, is reported."""
    configs = paper_configs()
    configs["difface/estimator"]["data"]["batch_size"] = 8  # the official value
    configs["difface/estimator"]["trainer"]["devices"] = 2  # neither the official nor the pinned value
    problems = recipe_problems(configs)
    assert any(p.startswith("difface/estimator/batch_per_gpu: listed under deviations, but the suite now has the "
                            "official") for p in problems), problems
    assert any(p.startswith("difface/estimator/gpus: the deviation pins the suite value 8") for p in problems)
    # the total batch (2 x 8 = 16, not 32) is no deviation: it is reported as a plain difference
    assert any(p.startswith("difface/estimator/total_batch: the suite has 16") for p in problems)
    assert len(problems) == 3, problems


def test_a_new_config_key_needs_an_entry():
    cfg = paper_configs()["codeformer/vqgan"]
    cfg["scheduler"] = {"type": "cosine"}
    assert uncovered_keys("codeformer/vqgan", cfg) == ["scheduler.type"]
