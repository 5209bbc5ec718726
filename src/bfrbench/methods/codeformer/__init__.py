"""CodeFormer (Zhou et al., NeurIPS 2022): codebook lookup transformer for blind face restoration.

Stages: `vqgan` (I: VQGAN x32, codebook 1024), `transformer` (II: code prediction, cross-entropy + latent L2, w=0),
`cft` (III: controllable feature transformation, w=1, adds pixel, LPIPS and GAN losses). Methods `codeformer`
(fidelity weight w=0.5, the official default) and `codeformer_w1` (w=1)."""
