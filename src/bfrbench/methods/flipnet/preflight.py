"""FLIPNET's `preflight_config` hook: what `bfrbench preflight` changes when FLIPNET's weights are absent.

Absent Stable Diffusion 2.1 (not in the Hugging Face cache) -> the same UNet/VAE architecture with random init
(`backbone.source: architecture`); absent ImageNet VGG16 for the perceptual losses -> the same VGG16 with random
weights (`perceptual.weights: random`). Either way the stage is "architecture only, random weights".

Real degradation pairs (`data.real_pairs`): present -> used, their folders made absolute (the stage runs in the
preflight's folder); any absent -> a stand-in `folder` set the preflight makes (a few of its test faces degraded by the
naive pipeline, `REAL_PAIRS_STANDIN`), so the Degradation mode's real-pair data path runs; the note names the absent
sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bfrbench.methods.base import PreflightConfig


def _perceptual(change: PreflightConfig, eff: dict[str, Any], used: bool) -> None:
    from bfrbench.methods.preflight import set_key
    from bfrbench.weights import weights_reason

    if not used or eff["perceptual"]["weights"] != "imagenet":
        return
    reason = weights_reason("lpips_vgg16")
    if reason:
        set_key(change.config, "perceptual.weights", "random")
        change.random_weights = True
        change.notes.append(f"VGG16 perceptual loss with random weights ({reason.split(';')[0]})")


REAL_PAIRS_STANDIN = "artifacts/real_pairs_standin"  # relative to the preflight's folder (bfrbench.preflight.run)


def _real_pairs(change: PreflightConfig, eff: dict[str, Any]) -> None:
    from bfrbench.methods.preflight import set_key

    sets = eff["data"].get("real_pairs")
    if not sets:
        return
    missing = [str(s.get("name", "?")) for s in sets if not Path(str(s.get("root", ""))).is_dir()]
    if missing:
        set_key(change.config, "data.real_pairs", [{"name": "standin_naive", "kind": "folder",
                                                     "root": REAL_PAIRS_STANDIN}])
        change.notes.append(f"real degradation pairs absent ({', '.join(missing)}): a stand-in set of test faces "
                            f"degraded by the naive pipeline ({REAL_PAIRS_STANDIN}) feeds the Degradation mode, "
                            "so its data path runs, not the paper's data")
        return
    set_key(change.config, "data.real_pairs", [{**s, "root": str(Path(s["root"]).resolve())} for s in sets])
    change.notes.append(f"real degradation pairs: {', '.join(str(s['name']) for s in sets)} (present)")


def preflight_config(method, stage: str, cfg: dict[str, Any], size: int) -> PreflightConfig:
    from bfrbench.methods.flipnet.backbone import ARCHITECTURES, pretrained_available
    from bfrbench.methods.preflight import effective, set_key, start

    change, eff = start(cfg), effective(method, stage, cfg)
    if stage == "embed_ae":
        _perceptual(change, eff, eff["loss"]["perceptual"] > 0)
        if eff["resolution"] != size:
            change.config["resolution"] = size
            change.notes.append(f"resolution {eff['resolution']} -> {size} (the preflight's size)")
    elif stage == "diffusion":
        _perceptual(change, eff, eff["loss"]["x0_perceptual"] > 0)
        _real_pairs(change, eff)
        bb = eff["backbone"]
        if bb["source"] == "pretrained" and bb["model_id"] in ARCHITECTURES and \
                not pretrained_available(bb["model_id"], bb.get("revision")):
            set_key(change.config, "backbone.source", "architecture")
            change.random_weights = True
            change.notes.append(f"{bb['model_id']} is not in the Hugging Face cache: its UNet and VAE architecture "
                                f"with random init (backbone.source: architecture)")
    return change
