"""Each diffusion restorer's `nfe` equals the network calls its sampler really makes (counted on stand-in networks)."""

from __future__ import annotations

import pytest
import torch


class Counter:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


@pytest.mark.parametrize("start_step", [1, 3, 20])
def test_difface_nfe_is_the_estimator_plus_the_prior_steps(start_step):
    from bfrbench.methods.difface.diffusion import GaussianDiffusion, linear_betas
    from bfrbench.methods.difface.method import _Restorer
    from bfrbench.methods.difface.sampler import DifFaceSampler, SamplerConfig

    sampler = DifFaceSampler(GaussianDiffusion(linear_betas(1000)), SamplerConfig(25, start_step, 0.5))
    prior = Counter(lambda x, t: torch.zeros(x.shape[0], 2 * x.shape[1], *x.shape[2:]))
    sampler(prior, torch.zeros(2, 3, 8, 8), [1, 2])
    restorer = object.__new__(_Restorer)
    restorer.sampler = sampler
    assert restorer.nfe == 1 + prior.calls == 1 + start_step


@pytest.mark.parametrize("scale, t_max, t_start", [(0.0, 1.0, 1.0), (1.0, 0.3, 1.0), (1.0, 1.0, 0.6), (2.0, 0.5, 0.8)])
def test_clrface_nfe_counts_every_score_call(scale, t_max, t_start):
    from bfrbench.methods.clrface.guidance import IdentityGuidance
    from bfrbench.methods.clrface.restorer import CLRFaceRestorer
    from bfrbench.methods.clrface.sde import VPSDE, ReverseSampler

    class NoUpdate(IdentityGuidance):  # the real `active`; no networks behind the update
        def __call__(self, x, t, score):
            return None

    guidance = object.__new__(NoUpdate)
    guidance.scale, guidance.t_max = scale, t_max
    sampler = ReverseSampler(VPSDE(), steps=12, t_start=t_start)
    score = Counter(lambda x, t: torch.zeros_like(x))
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    sampler.sample(score, (2, 4, 4, 4), gens, start=torch.zeros(2, 4, 4, 4), guidance=guidance)
    restorer = object.__new__(CLRFaceRestorer)
    restorer.sampler, restorer.sampling = sampler, {"guidance_scale": scale, "guidance_t_max": t_max}
    assert restorer.nfe == score.calls


@pytest.mark.parametrize("steps, strength", [(10, 1.0), (10, 0.45), (7, 0.05)])
def test_flipnet_nfe_is_the_ddim_steps_kept(steps, strength):
    from bfrbench.methods.flipnet.backbone import SD_SCHEDULE
    from bfrbench.methods.flipnet.sampler import DDIMFlipSampler

    class Model:
        encode = staticmethod(lambda x: torch.zeros(x.shape[0], 4, 2, 2))
        tokens = staticmethod(lambda x, modes: None)
        decode = staticmethod(lambda z: torch.zeros(z.shape[0], 3, 16, 16))

        def __init__(self):
            self.eps = Counter(lambda z, t, z_cond, tokens: torch.zeros_like(z))

    model, sampler = Model(), DDIMFlipSampler(SD_SCHEDULE, steps, 0.0, strength)
    sampler.sample(model, torch.zeros(2, 3, 16, 16), "restore", torch.zeros(2, 4, 2, 2))
    assert sampler.nfe == model.eps.calls
