"""Load a trained FLIPNET (all three stages) for restoration (LQ -> HQ) and degradation (HQ -> LQ)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.config import merge_known
from bfrbench.methods.common import load_stage_blob
from bfrbench.methods.flipnet.config import SAMPLING


class FlipNetRunner:
    """The pipeline's Restorer (`restore`) and the degradation data source (`degrade`), one set of weights."""

    def __init__(self, model, sampler, seed: int, device: str):
        self.model, self.sampler, self.seed, self.device = model.to(device).eval(), sampler, seed, device
        vae = model.vae
        r = model.resolution // 2 ** (len(vae.config.block_out_channels) - 1)
        self.latent_shape = (int(vae.config.latent_channels), r, r)

    @property
    def nfe(self) -> int:
        return self.sampler.nfe

    def restore(self, lq: np.ndarray) -> np.ndarray:
        return self.sampler.run(self.model, lq, "restore", self.seed, self.latent_shape, self.device)

    def degrade(self, hq: np.ndarray, variant: int = 0) -> np.ndarray:
        """A synthetic LQ face per HQ face; `variant` k gives the k-th independent draw (its own noise)."""
        return self.sampler.run(self.model, hq, "degrade", self.seed + 1000003 * (variant + 1), self.latent_shape,
                                self.device)


def load_flipnet(models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None,
                 sampler_steps: int | None = None) -> FlipNetRunner:
    """`sampling`: params.yaml `sampling.flipnet` (over config.SAMPLING); `sampler_steps` overrides its steps."""

    from bfrbench.methods.flipnet.backbone import build_architecture, build_from_config, load_pretrained
    from bfrbench.methods.flipnet.model import FlipNet
    from bfrbench.methods.flipnet.sampler import DDIMFlipSampler
    from bfrbench.methods.flipnet.stages import (
        BACKBONE_FILE,
        DIFFUSION_FILE,
        load_embedding,
    )

    blob = load_stage_blob(models_dir, "diffusion", "flipnet", DIFFUSION_FILE)
    bb = blob["backbone"]
    if bb["source"] == "config":
        unet, vae = build_from_config(bb["unet"], bb["vae"], int(blob["seed"]))
        state = load_stage_blob(models_dir, "diffusion", "flipnet", BACKBONE_FILE)
        unet.load_state_dict(state["unet"])
        vae.load_state_dict(state["vae"])
    elif bb["source"] == "architecture":  # a preflight's random-init SD architecture: rebuilt from its seed
        unet, vae = build_architecture(bb["model_id"], int(blob["seed"]))
    else:
        unet, vae, _ = load_pretrained(bb["model_id"], bb.get("revision"))
    if "vae_scaling_factor" in blob:  # set from the data when the smoke VAE was fitted (prior_fit.py)
        vae.register_to_config(scaling_factor=float(blob["vae_scaling_factor"]))
    embedding, resolution = load_embedding(models_dir)
    model = FlipNet(unet, vae, embedding, resolution, blob["lora"], blob["boosthub"]["phi"], blob["adapter"]["hidden"])
    model.load_trainable(blob["trainable"])
    settings = merge_known(SAMPLING, sampling or {}, "sampling.flipnet")
    steps = sampler_steps or int(settings["steps"])
    sampler = DDIMFlipSampler(blob["schedule"], steps, float(settings["eta"]), float(settings["strength"]))
    return FlipNetRunner(model, sampler, int(blob["seed"]), device)
