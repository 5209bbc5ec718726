"""Default configs of DifFace's stages: the published hyper-parameters (configs/training/*.yaml, 512 px)."""

from __future__ import annotations

from typing import Any

_DATA = {"batch_size": 4, "num_workers": 2}  # over BFRDataModule's DATA_DEFAULTS

# configs/sample/iddpm_ffhq512_swinir.yaml (model) and configs/training/diffusion_ffhq512.yaml.
OFFICIAL_PRIOR: dict[str, Any] = {
    "image_size": 512, "model_channels": 32, "out_channels": 6, "num_res_blocks": [1, 2, 2, 2, 2, 3, 4],
    "attention_resolutions": [32, 16, 8], "dropout": 0.0, "channel_mult": [1, 2, 4, 8, 8, 16, 16],
    "num_head_channels": 64, "use_scale_shift_norm": True, "norm_groups": 32,
}
# configs/training/swinir_ffhq512.yaml (model_ir): img_size is the token grid (512 / sf); stochastic depth 0.1
# (training only: no parameters, identity at inference, so the released weights load as before).
OFFICIAL_ESTIMATOR: dict[str, Any] = {
    "img_size": 64, "embed_dim": 180, "depths": [6] * 8, "num_heads": [6] * 8, "window_size": 8, "mlp_ratio": 2.0,
    "sf": 8, "drop_path_rate": 0.1,
}

DEFAULTS: dict[str, dict[str, Any]] = {
    # SwinIR estimator: L1, Adam 5e-5 cosine-annealed to 5e-6, batch 32, 300k iterations, DifFace degradations
    # (their gray samples have a gray HQ target too: the preset's gt_gray).
    "estimator": {
        "weights": "auto",
        "arch": dict(OFFICIAL_ESTIMATOR),
        "optim": {"lr": 5e-5, "lr_min": 5e-6},
        "data": {**_DATA, "degradation": {"preset": "difface"}},
        "trainer": {},
    },
    # iDDPM prior: linear betas, T=1000, eps + learned sigma (hybrid loss), Adam 1e-4, batch 64, EMA 0.999, 800k;
    # the trainer's adjust_lr ramps the lr linearly over the first train.milestones[0] = 10k iterations (0.0125 of
    # the run), then keeps it; its FFHQ data is not flipped.
    "prior": {
        "weights": "auto",
        "arch": dict(OFFICIAL_PRIOR),
        "diffusion_steps": 1000,
        "optim": {"lr": 1e-4, "schedule": {"type": "constant", "warmup": 0.0125}},
        "ema": {"decay": 0.999},
        # HQ only (the LQ is unused by the prior); no flips, as the official prior's data
        "data": {**_DATA, "degradation": {"preset": "difface"}, "flip": False},
        "trainer": {},
    },
}

# Restore-time settings (params.yaml `sampling.difface`): DDIM respacing 250, start step 100 (t0 = 400), eta 0.5
# (inference_difface.py). Changing them re-runs restore, never training.
SAMPLING: dict[str, Any] = {"respacing": 250, "start_step": 100, "eta": 0.5}
