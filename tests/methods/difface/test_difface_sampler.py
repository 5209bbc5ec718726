"""DifFace diffusion arithmetic, hybrid loss and the diffused-estimator sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bfrbench.archs.iddpm_unet import IDDPMUNet
from bfrbench.methods.difface.diffusion import GaussianDiffusion, linear_betas
from bfrbench.methods.difface.sampler import DifFaceSampler, SamplerConfig, ddim_timesteps

TINY_PRIOR = dict(image_size=16, model_channels=16, out_channels=6, num_res_blocks=1, attention_resolutions=[8],
                  channel_mult=[1, 2], num_head_channels=16, norm_groups=8)


def test_official_respacing_starts_at_t400():
    steps = ddim_timesteps(1000, 250)
    assert steps[:3] == [0, 4, 8] and len(steps) == 250
    sampler = DifFaceSampler(GaussianDiffusion(linear_betas(1000)), SamplerConfig(250, 100, 0.5))
    assert sampler.t0 == 400
    assert DifFaceSampler(GaussianDiffusion(linear_betas(1000)), SamplerConfig(25, 10, 0.5)).t0 == 400
    with pytest.raises(ValueError):
        ddim_timesteps(1000, 300)
    with pytest.raises(ValueError):
        SamplerConfig(25, 25, 0.5).validate(1000)


def test_linear_schedule_values():
    d = GaussianDiffusion(linear_betas(1000))
    assert d.betas[0] == pytest.approx(1e-4) and d.betas[-1] == pytest.approx(0.02)
    assert d.alphas_cumprod[-1] < 1e-4 < d.alphas_cumprod[0]


def test_sampler_is_deterministic_per_image_and_batch_independent():
    torch.manual_seed(0)
    prior = IDDPMUNet(**TINY_PRIOR).eval()
    for p in prior.parameters():  # non-zero output convs so the prior actually acts
        p.data.add_(0.01 * torch.randn_like(p))
    sampler = DifFaceSampler(GaussianDiffusion(linear_betas(1000)), SamplerConfig(25, 5, 0.5))
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    a = sampler(prior, x, [1, 2, 3])
    b = sampler(prior, x, [1, 2, 3])
    assert torch.equal(a, b)
    single = sampler(prior, x[1:2], [2])
    assert torch.allclose(single, a[1:2], atol=1e-5)  # same image + seed, different batch: same result
    c = sampler(prior, x, [1, 2, 4])
    assert torch.equal(c[:2], a[:2]) and not torch.allclose(c[2], a[2])
    assert a.abs().max() < 5


def test_hybrid_loss_decreases_with_training():
    torch.manual_seed(0)
    net = IDDPMUNet(**TINY_PRIOR)
    d = GaussianDiffusion(linear_betas(1000))
    x0 = torch.rand(4, 3, 16, 16) * 2 - 1
    t = torch.tensor([0, 10, 300, 900])
    noise = torch.randn_like(x0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    first = d.hybrid_loss(net, x0, t, noise)
    assert torch.isfinite(first["vb"]) and first["vb"] >= 0
    for _ in range(30):
        opt.zero_grad()
        d.hybrid_loss(net, x0, t, noise)["loss"].backward()
        opt.step()
    assert d.hybrid_loss(net, x0, t, noise)["loss"] < 0.7 * first["loss"]


def test_posterior_matches_closed_form():
    d = GaussianDiffusion(linear_betas(1000))
    x0, xt = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)
    t = torch.tensor([500])
    mean, _ = d.q_posterior(x0, xt, t)
    assert float(mean) == pytest.approx(d.posterior_mean_coef2[500], rel=1e-6)
    assert np.all(d.posterior_variance[1:] < d.betas[1:])


class _DeltaPrior(torch.nn.Module):
    """The exact noise predictor when the data distribution is a single image x*:
    eps = (x_t - sqrt(a_t) x*) / sqrt(1 - a_t).

    With it, any correct DDIM loop must land on x* from any start; a sampler with a wrong schedule index, a wrong
    sign or a range mix-up does not."""

    def __init__(self, target: torch.Tensor, diffusion: GaussianDiffusion):
        super().__init__()
        self.target = target
        self.ac = torch.as_tensor(diffusion.alphas_cumprod, dtype=torch.float64)

    def forward(self, x, t):
        a = self.ac[t].to(x.dtype).view(-1, 1, 1, 1)
        eps = (x - a.sqrt() * self.target) / (1 - a).sqrt()
        return torch.cat([eps, torch.zeros_like(eps)], 1)  # learned-variance channels, ignored by DDIM


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_sampler_with_the_exact_prior_returns_the_data_point(eta):
    diffusion = GaussianDiffusion(linear_betas(1000))
    target = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8
    sampler = DifFaceSampler(diffusion, SamplerConfig(250, 100, eta))
    far_estimate = torch.zeros_like(target)  # a poor estimator output: the prior alone must pull to x*
    out = sampler(_DeltaPrior(target, diffusion), far_estimate, [3, 4])
    assert torch.allclose(out, target, atol=1e-4)
