"""The method registry: name -> where its implementation lives (imported only when used).

Built-in methods are the `METHODS` dict below. A method living in another installed package registers through the
entry-point group `bfrbench.methods` (`name = "pkg.module:Class"`; docs/adding-a-method.md). Entry points are read
once per process, and only when a name is not built-in or when every method is listed: importing bfrbench, or using
only built-in methods, scans no installed package and imports no plugin. Every user of the registry goes through
`method_spec` / `find_method_spec` / `all_method_specs` / `check_method_names` / `get_method`, so a plugin's name
works wherever a built-in name does (params validation, training, restore, the report, `bfrbench methods`).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bfrbench.errors import ConfigError

ENTRY_POINT_GROUP = "bfrbench.methods"
BUILT_IN = "built-in"
# what the runners call on a method object (bfrbench.methods.base.Method): checked on a plugin's class when it is
# loaded, so a missing one is a clear error naming the entry point instead of an AttributeError mid-stage
PROTOCOL_METHODS = ("default_config", "plan", "sampling_defaults", "load")

DETERMINISTIC_NO_NET = "deterministic (no network, no noise)"
DETERMINISTIC_ONE_PASS = "deterministic (one network pass, no noise)"
CODEFORMER_W = ("deterministic (one pass, no noise); the fidelity weight w changes the output: w = 0.5 and w = 1 give "
                "different images (tests/methods/codeformer/test_codeformer_method.py)")


def stochastic(test: str) -> str:
    return ("stochastic: each image's noise comes from its own generator seeded by (seed, image bytes), so the output "
            f"changes with the seed and not with the batch it is restored in ({test})")


@dataclass(frozen=True)
class MethodSpec:
    name: str
    factory: str  # "module:Class"
    stages: tuple[str, ...]
    description: str
    # what restore does with randomness and settings: one line in the report's Methods section, each claim checked by
    # the test file it names (tests/methods/test_behaviour_lines.py holds every line to an existing test)
    behaviour: str = DETERMINISTIC_ONE_PASS
    origin: str = BUILT_IN  # "built-in", or "plugin: <distribution> <version>" (the package that provides it)


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("lq", "bfrbench.methods.lq:InputAsIs", ("card",), "the degraded input as is (lower bound)",
                   behaviour=DETERMINISTIC_NO_NET),
        MethodSpec(
            "classic",
            "bfrbench.methods.classic:ClassicDenoiseSharpen",
            ("fit",),
            "non-local-means denoising + unsharp mask, 3 parameters fitted by grid search on the train split",
            behaviour=DETERMINISTIC_NO_NET,
        ),
        MethodSpec(
            "unet_l1",
            "bfrbench.methods.unet_l1:UNetL1",
            ("train",),
            "plain U-Net regression trained with L1 on naive degradations (no generative prior)",
        ),
        MethodSpec(
            "flipnet",
            "bfrbench.methods.flipnet.method:FlipNetMethod",
            ("embed_ae", "embed_align", "diffusion"),
            "FLIPNET (ICCV 2025): frozen SD UNet/VAE + LoRA + BoostHub, face-embedding tokens, restoration and "
            "degradation modes in one set of weights",
            behaviour=stochastic("tests/methods/flipnet/test_sampler_backbone.py"),
        ),
        MethodSpec(
            "unet_l1_of",
            "bfrbench.methods.unet_l1_of:UNetL1PlusFlipData",
            ("train",),
            "unet_l1 trained on naive degradations + FLIPNET-degraded pairs (the paper's +O/F; unet_l1 is +O)",
        ),
        MethodSpec(
            "codeformer",
            "bfrbench.methods.codeformer.method:CodeFormerMethod",
            ("vqgan", "transformer", "cft"),
            "CodeFormer (NeurIPS 2022): VQGAN codebook prior + code-prediction transformer + controllable feature "
            "transformation, fidelity weight w=0.5",
            behaviour=CODEFORMER_W,
        ),
        MethodSpec(
            "codeformer_w1",
            "bfrbench.methods.codeformer.method:CodeFormerW1",
            ("link",),
            "CodeFormer with fidelity weight w=1 (codeformer's models, no training)",
            behaviour=CODEFORMER_W,
        ),
        MethodSpec(
            "difface",
            "bfrbench.methods.difface.method:DifFaceMethod",
            ("estimator", "prior"),
            "DifFace (TPAMI 2024): SwinIR diffused estimator, its output diffused to t0 and denoised by an "
            "iDDPM face prior (DDIM steps)",
            behaviour=stochastic("tests/methods/difface/test_difface_method.py"),
        ),
        MethodSpec(
            "clrface",
            "bfrbench.methods.clrface.method:CLRFace",
            ("vqgan", "latent_prior", "identity"),
            "CLR-Face (IJCAI 2024): x4 VQGAN latents, conditional score-based latent prior, identity guidance "
            "from a face-recognition net toward the Identity Recovery Network's output on learnt-mask latents",
            behaviour=stochastic("tests/methods/clrface/test_method.py"),
        ),
        MethodSpec(
            "clrface_no_mask",
            "bfrbench.methods.clrface.method:CLRFaceNoMask",
            ("link",),
            "CLR-Face ablation: identity guidance on every latent feature (clrface's models, no retraining)",
            behaviour=stochastic("tests/methods/clrface/test_method.py"),
        ),
        MethodSpec(
            "clrface_no_guidance",
            "bfrbench.methods.clrface.method:CLRFaceNoGuidance",
            ("link",),
            "CLR-Face ablation: latent prior sampling without identity guidance (clrface's models)",
            behaviour=stochastic("tests/methods/clrface/test_method.py"),
        ),
    )
}


def _entry_label(ep) -> str:
    """`entry point 'name' = 'value' (group bfrbench.methods) of <dist> <version>`: what a plugin error names."""
    return f"entry point {ep.name!r} = {ep.value!r} (group {ENTRY_POINT_GROUP}) of {_distribution(ep)}"


def _distribution(ep) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


@functools.cache
def _plugin_entries() -> dict[str, Any]:
    """Plugin name -> its `importlib.metadata.EntryPoint`, read once per process; nothing is imported here.

    A plugin named like a built-in method, or two distributions registering one name, is an error: which one a run
    used would depend on the built-in-first lookup or on sys.path order, and results would be filed under the name
    of code that did not produce them."""
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in METHODS:
            raise ConfigError(f"{_entry_label(ep)}: {ep.name!r} is the name of a built-in method",
                              fix=f"rename the entry point in {_distribution(ep)}'s pyproject.toml (built-in names: "
                                  f"{', '.join(METHODS)}), or uninstall that distribution")
        if ep.name in found:
            raise ConfigError(f"{_entry_label(ep)}: method {ep.name!r} is also registered by "
                              f"{_entry_label(found[ep.name])}",
                              fix="uninstall one of the two distributions, or rename one entry point")
        found[ep.name] = ep
    return found


def _plugin_error(ep, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{_entry_label(ep)}: {problem}", fix=fix)


@functools.cache
def _plugin_spec(name: str) -> MethodSpec:
    """The spec of plugin `name`, from its class's attributes (importing the plugin's module, once)."""
    ep = _plugin_entries()[name]
    if not ep.attr:
        raise _plugin_error(ep, "names a module, not a class", 'use "pkg.module:Class" as the entry point\'s value')
    try:
        cls = ep.load()
    except Exception as exc:  # anything the plugin's module raises on import: the user's code, reported as theirs
        raise _plugin_error(ep, f"does not import: {type(exc).__name__}: {exc}",
                            f"fix the import (try `python -c \"import {ep.module}\"`), reinstall or uninstall "
                            f"{_distribution(ep)}") from exc
    if not isinstance(cls, type):
        raise _plugin_error(ep, f"is a {type(cls).__name__}, not a class",
                            "point the entry point at the method class (the runners instantiate it with no argument)")
    attrs = "class attributes: name, stages (tuple of stage names), description (str), optional behaviour (str)"
    if getattr(cls, "name", None) != name:  # the runners write `name` into every model card
        raise _plugin_error(ep, f"{cls.__name__}.name is {getattr(cls, 'name', None)!r}, not the entry point's name",
                            f"set `name = {name!r}` on {cls.__name__} ({attrs})")
    stages = getattr(cls, "stages", None)
    if not (isinstance(stages, (tuple, list)) and stages and all(isinstance(s, str) and s for s in stages)):
        raise _plugin_error(ep, f"{cls.__name__}.stages is {stages!r}, not a non-empty tuple of stage names",
                            f'set e.g. `stages = ("train",)` on {cls.__name__} ({attrs})')
    description = getattr(cls, "description", None)
    if not (isinstance(description, str) and description.strip()):
        raise _plugin_error(ep, f"{cls.__name__}.description is {description!r}, not a one-line text",
                            f"set `description = \"...\"` on {cls.__name__}: the report's Methods section prints it")
    behaviour = getattr(cls, "behaviour", DETERMINISTIC_ONE_PASS)
    if not (isinstance(behaviour, str) and behaviour.startswith(("deterministic", "stochastic"))):
        raise _plugin_error(ep, f"{cls.__name__}.behaviour is {behaviour!r}",
                            "a line starting with 'deterministic' or 'stochastic' saying what restore does with "
                            "randomness and settings (the report prints it); leave it out for the default "
                            f"{DETERMINISTIC_ONE_PASS!r}")
    missing = [m for m in PROTOCOL_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise _plugin_error(ep, f"{cls.__name__} has no {', '.join(missing)}",
                            "implement bfrbench.methods.base.Method (docs/adding-a-method.md)")
    return MethodSpec(name, f"{ep.module}:{ep.attr}", tuple(stages), description, behaviour,
                      origin=f"plugin: {_distribution(ep)}")


def clear_plugin_cache() -> None:
    """Forget the entry points read so far (tests that install or remove a plugin during a process)."""
    _plugin_entries.cache_clear()
    _plugin_spec.cache_clear()


def method_names() -> list[str]:
    """Every method name: the built-ins in registry order, then the plugins' (no plugin is imported)."""
    return [*METHODS, *sorted(_plugin_entries())]


def _unknown(name: str, where: str) -> ConfigError:
    return ConfigError(f"{where}unknown method {name!r}",
                       fix=f"registered methods: {', '.join(method_names())}; a method from another package registers "
                           f"through the entry-point group {ENTRY_POINT_GROUP!r} (docs/adding-a-method.md)")


def is_method(name: str) -> bool:
    """`name` is a built-in method or a plugin's entry point (the plugin is not imported)."""
    return isinstance(name, str) and (name in METHODS or name in _plugin_entries())


def find_method_spec(name: str) -> MethodSpec | None:
    """The spec of built-in or plugin method `name`, None when no such method is registered. Plugins are looked for
    only when `name` is not built-in; a plugin that is found but broken raises (ConfigError naming its entry point)."""
    if name in METHODS:
        return METHODS[name]
    return _plugin_spec(name) if is_method(name) else None


def method_spec(name: str) -> MethodSpec:
    """The spec of method `name`; an unknown name is a ConfigError listing every registered method."""
    spec = find_method_spec(name)
    if spec is None:
        raise _unknown(name, "")
    return spec


def all_method_specs() -> dict[str, MethodSpec]:
    """Every method, built-ins first then plugins by name; this imports every plugin's class (`bfrbench methods`)."""
    return {name: method_spec(name) for name in method_names()}


def check_method_names(params: Mapping[str, Any], where: str) -> None:
    """Every method named by params.yaml (`methods` and each `train` entry) is registered, built-in or plugin.

    Names only: a plugin's module is imported when it is used (train, restore, the report), as a built-in's is."""
    for method in params["methods"]:
        if not is_method(method):
            raise _unknown(method, f"{where}: methods: ")
    for key, entry in params["train"].items():
        if not is_method(entry.get("method")):
            raise _unknown(entry.get("method"), f"{where}: train.{key}.method: ")


def get_method(name: str):
    """A new instance of method `name` (its module imported now, not before)."""
    module_name, _, attr = method_spec(name).factory.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):  # an entry point may name a nested attribute ("module:Outer.Class")
        obj = getattr(obj, part)
    return obj()
