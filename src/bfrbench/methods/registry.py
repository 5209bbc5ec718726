"""The method registry: name -> where its implementation lives (imported only when used)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bfrbench.errors import ConfigError

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


def check_method_names(params: Mapping[str, Any], where: str) -> None:
    """Every method named by params.yaml (`methods` and each `train` entry) is registered here."""
    for method in params["methods"]:
        if method not in METHODS:
            raise ConfigError(f"{where}: methods: unknown method {method!r}",
                              fix=f"registered methods: {sorted(METHODS)}")
    for key, entry in params["train"].items():
        if entry.get("method") not in METHODS:
            raise ConfigError(f"{where}: train.{key}.method: unknown method {entry.get('method')!r}",
                              fix=f"registered methods: {sorted(METHODS)}")


def get_method(name: str):
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}", fix=f"registered methods: {', '.join(sorted(METHODS))}")
    spec = METHODS[name]
    module_name, cls_name = spec.factory.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls()
