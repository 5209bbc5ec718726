"""The method registry: name -> where its implementation lives (imported only when used)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bfrbench.errors import ConfigError


@dataclass(frozen=True)
class MethodSpec:
    name: str
    factory: str  # "module:Class"
    stages: tuple[str, ...]
    description: str


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("lq", "bfrbench.methods.lq:InputAsIs", ("card",), "the degraded input as is (lower bound)"),
        MethodSpec(
            "classic",
            "bfrbench.methods.classic:ClassicDenoiseSharpen",
            ("fit",),
            "non-local-means denoising + unsharp mask, 3 parameters fitted by grid search on the train split",
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
        ),
        MethodSpec(
            "codeformer_w1",
            "bfrbench.methods.codeformer.method:CodeFormerW1",
            ("link",),
            "CodeFormer with fidelity weight w=1 (codeformer's models, no training)",
        ),
        MethodSpec(
            "difface",
            "bfrbench.methods.difface.method:DifFaceMethod",
            ("estimator", "prior"),
            "DifFace (TPAMI 2024): SwinIR diffused estimator, its output diffused to t0 and denoised by an "
            "iDDPM face prior (DDIM steps)",
        ),
        MethodSpec(
            "clrface",
            "bfrbench.methods.clrface.method:CLRFace",
            ("vqgan", "latent_prior", "identity"),
            "CLR-Face (IJCAI 2024): x4 VQGAN latents, conditional score-based latent prior, identity guidance "
            "from a face-recognition net toward the Identity Recovery Network's output on learnt-mask latents",
        ),
        MethodSpec(
            "clrface_no_mask",
            "bfrbench.methods.clrface.method:CLRFaceNoMask",
            ("link",),
            "CLR-Face ablation: identity guidance on every latent feature (clrface's models, no retraining)",
        ),
        MethodSpec(
            "clrface_no_guidance",
            "bfrbench.methods.clrface.method:CLRFaceNoGuidance",
            ("link",),
            "CLR-Face ablation: latent prior sampling without identity guidance (clrface's models)",
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
