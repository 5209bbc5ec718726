"""FLIPNET (arXiv 2508.08556, ICCV 2025): one diffusion network, two modes (restoration and degradation).

Stages: `embed_ae` (HQ/LQ autoencoders), `embed_align` (patch-wise HQ/LQ alignment), `diffusion` (frozen SD UNet +
VAE with LoRA, BoostHub and the embedding adapter). See docs/methods/flipnet.md."""
