"""DifFace (Yue & Loy, TPAMI 2024): blind face restoration with a diffused error contraction.

Stages: `estimator` (SwinIR with pixel-unshuffle, L1 on DifFace's degradations) and `prior` (an iDDPM UNet trained
unconditionally on HQ faces, linear schedule, T=1000). Restoration diffuses the estimator's output to t0 (~400) and
denoises it with the prior (`sampler.py`)."""
