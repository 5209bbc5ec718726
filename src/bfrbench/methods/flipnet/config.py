"""Default configs of FLIPNET's three training stages (experiments/flipnet/*.yaml override them; unknown keys
raise). Values are the paper-scale defaults; see docs/methods/flipnet.md for which the paper states and which
are this suite's choices."""

from __future__ import annotations

import copy
from typing import Any

from bfrbench.methods.flipnet.backbone import SD21_BASE, SD_SCHEDULE

DATA: dict[str, Any] = {}  # BFRDataModule's DATA_DEFAULTS
PERCEPTUAL: dict[str, Any] = {"weights": "imagenet", "layers": ["relu1_2", "relu2_2", "relu3_3"]}

DEFAULTS: dict[str, dict[str, Any]] = {
    "embed_ae": {
        "resolution": 512,  # the embedding and the diffusion stage work at this size (faces are resized to it)
        "model": {"channels": [64, 128, 256, 256, 512], "dim": 512, "disc_channels": [64, 128, 256, 512]},
        "loss": {"l1": 1.0, "perceptual": 1.0, "adversarial": 0.1, "adversarial_start": 0},
        "perceptual": PERCEPTUAL,
        "optim": {"lr": 1e-4, "lr_disc": 1e-4},
        "data": DATA,
        "trainer": {},
    },
    "embed_align": {
        "model": {"proj_dim": 512},
        "optim": {"lr": 1e-4, "weight_decay": 0.01},
        "data": DATA,
        "trainer": {},
    },
    "diffusion": {
        "backbone": {
            "source": "pretrained",  # or "config": build `unet`/`vae` below with random init (smoke)
            "model_id": SD21_BASE,
            "revision": None,
            "unet": {},
            "vae": {},
            "schedule": dict(SD_SCHEDULE),
            "vae_fit": {"steps": 0, "lr": 1e-3, "batch_size": 8},  # source=config only: fit the random VAE first
            "unet_fit": {"steps": 0, "lr": 1e-3, "batch_size": 8},  # source=config only: then the UNet as a prior
        },
        "lora": {"rank": 64, "alpha": 64},
        "boosthub": {"phi": 1.0},
        "adapter": {"hidden": 1024},
        # p_degrade: naive pairs only; with data.real_pairs it is null and p_naive_in_degrade (null = 0) is the share
        # of faces also trained in Degradation mode (bfrbench.methods.flipnet.diffusion_module)
        "loss": {"p_degrade": 0.5, "p_naive_in_degrade": None, "x0_mse": 1.0, "x0_perceptual": 0.1},
        "perceptual": PERCEPTUAL,
        "optim": {"lr": 1e-4, "weight_decay": 0.0},
        "data": DATA,
        "trainer": {},
    },
}


def default_config(stage: str) -> dict[str, Any]:
    return copy.deepcopy(DEFAULTS[stage])

# Restore-time settings (params.yaml `sampling.flipnet`, also used by `bfrbench degrade`): DDIM steps, eta, and
# strength < 1 to start from the noised condition. Changing them re-runs restore and degrade, never training.
SAMPLING: dict[str, Any] = {"steps": 50, "eta": 0.0, "strength": 1.0}
