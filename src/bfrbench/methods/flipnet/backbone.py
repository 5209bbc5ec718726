"""FLIPNET's diffusion backbone through diffusers: a Stable-Diffusion-style UNet + VAE (+ the noise schedule).

`source: pretrained` loads `model_id` (Stable Diffusion 2.1) with diffusers' own `from_pretrained` (Hugging Face
cache, `HF_HOME`); `source: config` builds a small UNet/VAE from the given diffusers configs with seeded random
init (the offline smoke profile; the card says so). Either way the UNet and VAE are frozen by the caller; only LoRA,
BoostHub and the embedding adapter train.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bfrbench.errors import AssetError, ConfigError

SD21_BASE = "stabilityai/stable-diffusion-2-1-base"
# Stable Diffusion's training schedule (scaled-linear betas 0.00085..0.012, 1000 steps).
SD_SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
               "beta_end": 0.012, "prediction_type": "epsilon"}


def _fetch_hint(model_id: str) -> str:
    return (f"online, cache it once with `python -c \"from diffusers import StableDiffusionPipeline; "
            f"StableDiffusionPipeline.from_pretrained('{model_id}')\"` (or `hf download {model_id}`), then run again "
            f"(it is read from the Hugging Face cache, $HF_HOME); or set backbone.model_id to a local folder holding "
            f"its unet/, vae/ and scheduler/ subfolders")


def load_pretrained(model_id: str, revision: str | None = None):
    """UNet, VAE and scheduler config of a Stable Diffusion checkpoint via from_pretrained (cache or download)."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    try:
        unet = UNet2DConditionModel.from_pretrained(model_id, subfolder="unet", revision=revision)
        vae = AutoencoderKL.from_pretrained(model_id, subfolder="vae", revision=revision)
        sched = DDPMScheduler.from_pretrained(model_id, subfolder="scheduler", revision=revision)
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot load the diffusion backbone '{model_id}' (revision {revision}): "
                         f"{str(exc).splitlines()[0][:300]}", fix=_fetch_hint(model_id)) from None
    schedule = {k: sched.config[k] for k in SD_SCHEDULE if k in sched.config}
    return unet, vae, schedule


def build_from_config(unet_cfg: Mapping[str, Any], vae_cfg: Mapping[str, Any], seed: int):
    """A UNet2DConditionModel and AutoencoderKL from diffusers configs, seeded random init."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            unet = UNet2DConditionModel(**unet_cfg)
            vae = AutoencoderKL(**vae_cfg)
        except TypeError as exc:
            raise ConfigError(f"backbone.unet / backbone.vae: {exc}",
                              fix="use UNet2DConditionModel / AutoencoderKL constructor arguments") from None
    return unet, vae


def build_backbone(cfg: Mapping[str, Any], seed: int):
    """-> (unet, vae, schedule dict, description for the card)."""
    if cfg["source"] == "pretrained":
        unet, vae, schedule = load_pretrained(cfg["model_id"], cfg.get("revision"))
        return unet, vae, schedule, f"{cfg['model_id']} (from_pretrained, frozen)"
    if cfg["source"] == "config":
        unet, vae = build_from_config(cfg["unet"], cfg["vae"], seed)
        return unet, vae, dict(cfg["schedule"]), "small UNet/VAE built from config, random init (smoke stand-in)"
    raise ConfigError(f"backbone.source: {cfg['source']!r}", fix="use pretrained or config")


def vae_scale(vae) -> float:
    return float(getattr(vae.config, "scaling_factor", 1.0))


def vae_downsample(vae) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)
