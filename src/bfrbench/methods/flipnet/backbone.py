"""FLIPNET's diffusion backbone through diffusers: a Stable-Diffusion-style UNet + VAE (+ the noise schedule).

`source: pretrained` loads `model_id` (Stable Diffusion 2.1) with diffusers' own `from_pretrained` (Hugging Face
cache, `HF_HOME`); `source: config` builds a small UNet/VAE from the given diffusers configs with seeded random
init (the offline smoke profile; the card says so); `source: architecture` builds `model_id`'s own architecture
(written below for SD 2.1 base) with seeded random init: what `bfrbench preflight` runs when the weights are not
cached (the same parameters, memory and compute; no prior, so never a result). Either way the UNet and VAE are
frozen by the caller; only LoRA, BoostHub and the embedding adapter train.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bfrbench.errors import AssetError, ConfigError

SD21_BASE = "stabilityai/stable-diffusion-2-1-base"
# Stable Diffusion's training schedule (scaled-linear betas 0.00085..0.012, 1000 steps).
SD_SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
               "beta_end": 0.012, "prediction_type": "epsilon"}


# The architecture of stabilityai/stable-diffusion-2-1-base (512 px, 64 x 64 x 4 latents, OpenCLIP-H text width
# 1024): UNet2DConditionModel and AutoencoderKL constructor arguments (diffusers), without the weights.
ARCHITECTURES: dict[str, dict[str, dict[str, Any]]] = {
    SD21_BASE: {
        "unet": {
            "sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
            "block_out_channels": [320, 640, 1280, 1280],
            "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                 "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            "attention_head_dim": [5, 10, 20, 20],  # heads per block (diffusers' historical name)
            "cross_attention_dim": 1024, "use_linear_projection": True, "flip_sin_to_cos": True, "freq_shift": 0,
            "downsample_padding": 1, "mid_block_scale_factor": 1, "act_fn": "silu", "norm_num_groups": 32,
            "norm_eps": 1e-5,
        },
        "vae": {
            "sample_size": 512, "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
            "block_out_channels": [128, 256, 512, 512],
            "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
            "act_fn": "silu", "norm_num_groups": 32, "scaling_factor": 0.18215,
        },
    },
}


def pretrained_available(model_id: str, revision: str | None = None) -> bool:
    """Whether from_pretrained can load `model_id` without a download: a local folder with unet/ and vae/, or both
    subfolders' configs in the Hugging Face cache."""
    from pathlib import Path

    if Path(model_id).is_dir():
        return all((Path(model_id) / sub / "config.json").is_file() for sub in ("unet", "vae"))
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = [try_to_load_from_cache(model_id, f"{sub}/config.json", revision=revision) for sub in ("unet", "vae")]
    return all(isinstance(f, str) for f in found)


def build_architecture(model_id: str, seed: int):
    """`model_id`'s UNet and VAE with seeded random init (no weights read)."""
    if model_id not in ARCHITECTURES:
        raise ConfigError(f"backbone.source: architecture: no architecture written for {model_id!r}",
                          fix=f"known: {sorted(ARCHITECTURES)}; or use source: pretrained / config")
    arch = ARCHITECTURES[model_id]
    return build_from_config(arch["unet"], arch["vae"], seed)


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
    if cfg["source"] == "architecture":
        unet, vae = build_architecture(cfg["model_id"], seed)
        return unet, vae, dict(cfg["schedule"]), (f"{cfg['model_id']} architecture, random init (preflight only: "
                                                  f"no pretrained prior)")
    raise ConfigError(f"backbone.source: {cfg['source']!r}", fix="use pretrained, config or architecture")


def vae_scale(vae) -> float:
    return float(getattr(vae.config, "scaling_factor", 1.0))


def vae_downsample(vae) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)
