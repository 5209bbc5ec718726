"""Default configs of CodeFormer's stages: the published hyper-parameters (official option files, 512 px).

Stage configs in experiments/codeformer/ override these; unknown keys are errors. The smoke configs shrink the
network (`arch`) and the step counts; the paper configs keep everything here.
"""

from __future__ import annotations

import copy
from typing import Any

# The released network (CodeFormer(dim_embd=512, n_head=8, n_layers=9, codebook_size=1024, connect_list=[32..256])
# on VQAutoEncoder(512, nf=64, ch_mult=[1, 2, 2, 4, 4, 8], codebook 1024 x 256)).
OFFICIAL_ARCH: dict[str, Any] = {
    "img_size": 512, "nf": 64, "ch_mult": [1, 2, 2, 4, 4, 8], "res_blocks": 2, "attn_resolutions": [16],
    "codebook_size": 1024, "emb_dim": 256, "norm_groups": 32,
    "dim_embd": 512, "n_head": 8, "n_layers": 9, "connect_list": ["32", "64", "128", "256"],
}
VQGAN_KEYS = ("img_size", "nf", "ch_mult", "res_blocks", "attn_resolutions", "codebook_size", "emb_dim", "norm_groups")

_DATA = {"batch_size": 4, "num_workers": 2}  # over BFRDataModule's DATA_DEFAULTS

DEFAULTS: dict[str, dict[str, Any]] = {
    # VQGAN_512_ds32_nearest_stage1.yml: Adam 7e-5 (0.9, 0.99), EMA 0.995, L1 1 + LPIPS 1 + hinge GAN (adaptive,
    # x0.8) from iteration 30001, 1.6M iterations, batch 4 x 8 GPUs.
    "vqgan": {
        "weights": "auto",
        "arch": copy.deepcopy(OFFICIAL_ARCH),
        "disc": {"nc": 3, "ndf": 64, "n_layers": 4},
        # CosineAnnealingRestartLR, one period of the whole run (periods [1600000]), 7e-5 -> 6e-5, both optimizers
        "optim": {"lr": 7e-5, "betas": [0.9, 0.99], "schedule": {"type": "cosine", "eta_min": 6e-5}},
        # lpips_weights: official (the verified LPIPS files) or random (bfrbench preflight without them)
        "loss": {"l1": 1.0, "lpips": 1.0, "lpips_weights": "official", "codebook": 1.0, "gan": 1.0,
                 "disc_weight": 0.8, "adversarial_start": 30001},
        "ema": {"decay": 0.995},
        "data": {**_DATA, "degradation": {"preset": "codeformer_stage2"}},  # HQ only; LQ unused in stage I
        "trainer": {},
    },
    # CodeFormer_stage2.yml: w=0, CE x0.5 + latent L2 x1, Adam 1e-4 (0.9, 0.99), EMA 0.995, 500k iterations;
    # MultiStepLR at 400k and 450k (0.8 and 0.9 of the run), gamma 0.5.
    "transformer": {
        "weights": "auto",
        "optim": {"lr": 1e-4, "betas": [0.9, 0.99],
                  "schedule": {"type": "multistep", "milestones": [0.8, 0.9], "gamma": 0.5}},
        "loss": {"ce": 0.5, "feat": 1.0},
        "ema": {"decay": 0.995},
        "data": {**_DATA, "degradation": {"preset": "codeformer_stage2"}},
        "trainer": {},
    },
    # CodeFormer_stage3.yml: w=1, + L1 1, LPIPS 1, hinge GAN (adaptive x0.1) from 5001, Adam 5e-5, EMA 0.997, 150k.
    "cft": {
        "weights": "auto",
        "w": 1.0,
        # CosineAnnealingRestartLR, one period of the whole run (periods [150000]), 5e-5 -> 2e-5, both optimizers
        "optim": {"lr": 5e-5, "betas": [0.9, 0.99], "schedule": {"type": "cosine", "eta_min": 2e-5}},
        "loss": {"ce": 0.5, "feat": 1.0, "l1": 1.0, "lpips": 1.0, "lpips_weights": "official", "gan": 1.0,
                 "adversarial_start": 5001},
        "scale_adaptive_gan_weight": 0.1,
        # codeformer_joint_model.py optimize_parameters(), by the 1-based iteration (`until` as fractions of the run:
        # 40k, 80k, 120k of 150k): mild samples with w 1, then w 1.3; then large degradations with the code losses
        # only (no image losses, no discriminator step; the one mild iteration is the phase's last, as 120000 %
        # 120000 == 0 there); then one mild iteration in 15 at w 1.3, the others large and code-only.
        "phases": [
            {"until": 0.2666667, "w": 1.0, "mild_every": 1},
            {"until": 0.5333333, "w": 1.3, "mild_every": 1},
            {"until": 0.8, "w": 0.0, "mild_every": "phase_end"},
            {"until": 1.0, "w": 1.3, "mild_every": 15},
        ],
        "ema": {"decay": 0.997},
        # every sample degraded by both branches (the mild `in` and the large `in_large_de`); phases choose
        "data": {**_DATA, "degradation": {"preset": "codeformer_stage3"}, "lq_per_branch": True},
        "trainer": {},
    },
}

WEIGHTS_MODES = ("auto", "official", "suite")
