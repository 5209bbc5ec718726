"""SDEs and the reverse sampler: marginals, determinism under a seed, per-sample generators, config errors."""

from __future__ import annotations

import pytest
import torch

from bfrbench.errors import ConfigError
from bfrbench.methods.clrface.sde import VESDE, VPSDE, ReverseSampler, make_sde


def gaussian_score(mu: float, var: float, sde):
    """Exact score of p_t when x_0 ~ N(mu, var): lets the sampler be checked against the truth."""

    def score(x, t):
        mean, std = sde.marginal(t)
        m, s = mean.view(-1, 1, 1, 1), std.view(-1, 1, 1, 1)
        return -(x - m * mu) / (m**2 * var + s**2)

    return score


@pytest.mark.parametrize("sde", [VESDE(0.01, 10.0), VPSDE(0.1, 20.0)])
@pytest.mark.parametrize("method", ["euler_maruyama", "ode"])
def test_sampler_recovers_a_known_distribution(sde, method):
    sampler = ReverseSampler(sde, steps=200, method=method)
    g = torch.Generator().manual_seed(0)
    x = sampler.sample(gaussian_score(2.0, 0.25, sde), (512, 1, 2, 2), g)
    assert abs(float(x.mean()) - 2.0) < 0.1
    assert abs(float(x.std()) - 0.5) < 0.1


@pytest.mark.parametrize("method", ["euler_maruyama", "ode"])
def test_sampler_deterministic_under_seed(method):
    sde = VESDE(0.01, 5.0)
    sampler = ReverseSampler(sde, steps=10, method=method)
    score = gaussian_score(0.0, 1.0, sde)
    a = sampler.sample(score, (3, 2, 4, 4), torch.Generator().manual_seed(7))
    b = sampler.sample(score, (3, 2, 4, 4), torch.Generator().manual_seed(7))
    c = sampler.sample(score, (3, 2, 4, 4), torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_per_sample_generators_do_not_depend_on_the_batch():
    sde = VPSDE()
    sampler = ReverseSampler(sde, steps=5)
    score = gaussian_score(0.0, 1.0, sde)
    both = sampler.sample(score, (2, 1, 3, 3), [torch.Generator().manual_seed(s) for s in (1, 2)])
    alone = sampler.sample(score, (1, 1, 3, 3), [torch.Generator().manual_seed(2)])
    assert torch.allclose(both[1:], alone, atol=1e-6)


def test_marginals():
    t = torch.tensor([0.0, 1.0])
    mean, std = VESDE(0.01, 50.0).marginal(t)
    assert torch.allclose(std, torch.tensor([0.01, 50.0]))
    assert torch.equal(mean, torch.ones(2))
    mean, std = VPSDE().marginal(torch.tensor([0.5]))
    assert torch.allclose(mean**2 + std**2, torch.ones(1))


def test_bad_configs_raise():
    with pytest.raises(ConfigError, match="sde.kind"):
        make_sde({"kind": "subvp"})
    with pytest.raises(ConfigError, match="steps"):
        ReverseSampler(VPSDE(), steps=0)
    with pytest.raises(ConfigError, match="method"):
        ReverseSampler(VPSDE(), method="heun")
    with pytest.raises(ConfigError, match="t_eps"):
        ReverseSampler(VPSDE(), t_start=1e-4)


def test_partial_start_uses_the_condition():
    sde = VPSDE()
    sampler = ReverseSampler(sde, steps=4, t_start=0.3)
    start = torch.full((1, 1, 2, 2), 5.0)
    x = sampler.init((1, 1, 2, 2), torch.Generator().manual_seed(0), start)
    mean, _ = sde.marginal(torch.tensor(0.3))
    assert float(x.mean()) == pytest.approx(float(mean) * 5.0, abs=1.5)
