"""Default configuration of each CLR-Face stage (every key a stage accepts; unknown keys raise)."""

from __future__ import annotations

import copy
from typing import Any

DATA: dict[str, Any] = {}  # BFRDataModule's DATA_DEFAULTS

STAGES: dict[str, dict[str, Any]] = {
    "vqgan": {
        "model": {"channels": [64, 128, 256], "downsample": 4, "embed_dim": 8, "codebook_size": 1024,
                  "res_blocks": 2, "beta": 0.25},
        "loss": {"l1_weight": 1.0, "perceptual_weight": 1.0, "adversarial_weight": 0.1, "codebook_weight": 1.0,
                 "adversarial_start": 20000, "discriminator": {"channels": 64, "layers": 3}},
        "face_recognition": "dlib_resnet",
        "optim": {"lr": 1e-4, "lr_disc": 1e-4},
        "data": DATA,
        "trainer": {},
    },
    "latent_prior": {
        "net": {"channels": [128, 256], "time_dim": 128},
        "sde": {"kind": "ve", "sigma_min": 0.01, "sigma_max": 50.0, "beta_min": 0.1, "beta_max": 20.0},
        "t_eps": 1e-3,
        "latent_scale_faces": 64,  # HQ train faces whose clean latents set latent_scale = 1 / std
        "optim": {"lr": 2e-4, "weight_decay": 0.0},
        "data": DATA,
        "trainer": {},
    },
    "identity": {
        "loss": {"irn_weight": 1.0, "mask_weight": 1.0, "mask_sparsity": 0.5, "mask_init_logit": 0.0},
        "irn_init": "pretrained",  # the IRN starts from the recogniser's weights ("scratch": random init)
        "face_recognition": "dlib_resnet",
        "optim": {"irn_lr": 1e-5, "mask_lr": 5e-2, "weight_decay": 0.0},
        "data": DATA,
        "trainer": {},
    },
    # Ablation rows: no training, a link to clrface's models plus overrides of its sampling settings.
    "link": {"uses": "clrface", "overrides": {}},
}

# Restore-time settings (params.yaml `sampling.clrface`): changing them re-runs restore, never training.
SAMPLING: dict[str, Any] = {"steps": 100, "method": "euler_maruyama", "t_start": 1.0, "t_eps": 1e-3,
                            "guidance_scale": 0.05, "guidance_t_max": 0.5, "mask_fraction": 0.25,
                            "quantize_output": False}


def default_config(stage: str) -> dict[str, Any]:
    return copy.deepcopy(STAGES[stage])
