"""`FlipNet`: the network of FLIPNET's diffusion stage, one set of weights for both modes.

restore: denoise the HQ latent, condition = the LQ image (its latent in the BoostHub branch, its LQ-encoder
         embedding through the adapter as cross-attention tokens).
degrade: denoise the LQ latent, condition = the HQ image (HQ-encoder embedding).
The UNet and VAE are frozen; LoRA (peft) on the UNet's self- and cross-attention, BoostHub and the adapter train.
The sampler lives in sampler.py; this module only predicts noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from bfrbench.methods.flipnet.adapter import MODES, EmbeddingAdapter
from bfrbench.methods.flipnet.embedding import FaceEmbedding

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def roles(hq: torch.Tensor, lq: torch.Tensor, mode: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(target to denoise, condition) per sample: restore (0) -> (HQ, LQ); degrade (1) -> (LQ, HQ)."""
    flip = (mode == MODES["degrade"]).view(-1, *([1] * (hq.ndim - 1)))
    return torch.where(flip, lq, hq), torch.where(flip, hq, lq)


class FlipNet(nn.Module):
    def __init__(self, unet, vae, embedding: FaceEmbedding, resolution: int, lora: Mapping[str, Any],
                 boosthub_phi: float, adapter_hidden: int | None = None):
        super().__init__()
        from peft import LoraConfig

        from bfrbench.methods.flipnet.boosthub import install_boosthub

        self.resolution = int(resolution)
        self.unet, self.vae, self.embedding = unet, vae, embedding
        for frozen in (self.unet, self.vae, self.embedding):
            frozen.requires_grad_(False)
        if lora["rank"] > 0:
            self.unet.add_adapter(LoraConfig(r=int(lora["rank"]), lora_alpha=float(lora["alpha"]),
                                             init_lora_weights="gaussian", target_modules=list(LORA_TARGETS)))
        self.boosthub_layers = install_boosthub(self.unet, boosthub_phi)
        for name, p in self.unet.named_parameters():  # peft freezes every non-LoRA parameter; re-open BoostHub's
            if ".processor.boost_" in name:
                p.requires_grad_(True)
        with torch.no_grad():
            probe = embedding.embed(torch.zeros(1, 3, self.resolution, self.resolution), "hq")
        self.adapter = EmbeddingAdapter(probe.shape[-1], int(unet.config.cross_attention_dim), probe.shape[1],
                                        adapter_hidden)

    # -- images <-> latents (frozen VAE) ------------------------------------------------------------------------
    def to_model_size(self, img: torch.Tensor) -> torch.Tensor:
        if img.shape[-1] == self.resolution and img.shape[-2] == self.resolution:
            return img
        return F.interpolate(img, size=(self.resolution, self.resolution), mode="bilinear", antialias=True,
                             align_corners=False)

    @property
    def latent_scale(self) -> float:
        return float(getattr(self.vae.config, "scaling_factor", 1.0))

    def encode(self, img: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> scaled latents (posterior mean: deterministic)."""
        return self.vae.encode(img * 2 - 1).latent_dist.mean * self.latent_scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (self.vae.decode(z / self.latent_scale).sample + 1) / 2

    # -- conditioning and noise prediction ----------------------------------------------------------------------
    def tokens(self, cond_img: torch.Tensor, mode: torch.Tensor) -> torch.Tensor:
        """Cross-attention tokens for the condition image: LQ encoder in restore mode, HQ encoder in degrade mode."""
        degrade = mode == MODES["degrade"]
        if bool(degrade.all()):
            emb = self.embedding.embed(cond_img, "hq")
        elif not bool(degrade.any()):
            emb = self.embedding.embed(cond_img, "lq")
        else:
            emb = torch.where(degrade.view(-1, 1, 1), self.embedding.embed(cond_img, "hq"),
                              self.embedding.embed(cond_img, "lq"))
        return self.adapter(emb, mode)

    def eps(self, z_t: torch.Tensor, t: torch.Tensor, z_cond: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Noise predicted for the denoised branch; the condition branch runs beside it (t = 0, same weights) and
        feeds BoostHub's keys and values."""
        b = z_t.shape[0]
        t = t.expand(b) if t.ndim == 0 else t
        out = self.unet(torch.cat([z_t, z_cond]), torch.cat([t, torch.zeros_like(t)]),
                        encoder_hidden_states=torch.cat([tokens, tokens])).sample
        return out[:b]

    # -- what trains and what is saved --------------------------------------------------------------------------
    def trainable_names(self) -> set[str]:
        return {n for n, p in self.named_parameters() if p.requires_grad}

    def trainable_state(self) -> dict[str, torch.Tensor]:
        names = self.trainable_names()
        return {k: v.detach().cpu().clone() for k, v in self.state_dict().items() if k in names}

    def load_trainable(self, state: dict[str, torch.Tensor]) -> None:
        """Load LoRA/BoostHub/adapter weights onto a freshly built backbone; every trainable key must be there."""
        names = self.trainable_names()
        missing, extra = sorted(names - set(state)), sorted(set(state) - names)
        if missing or extra:
            raise ValueError(f"FLIPNET weights do not match the model: missing {missing[:5]}, unexpected {extra[:5]}")
        self.load_state_dict(state, strict=False)
