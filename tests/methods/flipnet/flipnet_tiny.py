"""Tiny FLIPNET parts for fast CPU tests (random init, 32 px images, 8 x 8 latents)."""

from __future__ import annotations

TINY_UNET = {"sample_size": 8, "in_channels": 4, "out_channels": 4, "block_out_channels": [16, 32],
             "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
             "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"], "layers_per_block": 1,
             "cross_attention_dim": 16, "attention_head_dim": 4, "norm_num_groups": 8}
TINY_VAE = {"in_channels": 3, "out_channels": 3, "block_out_channels": [8, 16, 16],
            "down_block_types": ["DownEncoderBlock2D"] * 3, "up_block_types": ["UpDecoderBlock2D"] * 3,
            "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 4, "sample_size": 32}
SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
            "beta_end": 0.012, "prediction_type": "epsilon"}
RES = 32


def tiny_flipnet(seed: int = 0, lora_rank: int = 2, phi: float = 1.0):
    import torch

    from bfrbench.methods.flipnet.backbone import build_from_config
    from bfrbench.methods.flipnet.embedding import FaceEmbedding
    from bfrbench.methods.flipnet.model import FlipNet

    unet, vae = build_from_config(TINY_UNET, TINY_VAE, seed)
    torch.manual_seed(seed)
    emb = FaceEmbedding([8, 16], 16, 8)
    return FlipNet(unet, vae, emb, RES, {"rank": lora_rank, "alpha": lora_rank}, phi, 16)


