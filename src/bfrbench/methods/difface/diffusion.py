"""Gaussian diffusion of DifFace's prior (improved DDPM): linear betas, T=1000, eps prediction + learned variance.

Only the schedule arithmetic and the training loss live here (no network): `hybrid_loss` is iDDPM's
L_simple + L_vlb with the variance learned through the VLB term only ("rescaled MSE": learn_sigma=True,
use_kl=False, rescale_learned_sigmas=True in DifFace's training config). The sampler is in `sampler.py`.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def linear_betas(num_timesteps: int = 1000) -> np.ndarray:
    scale = 1000 / num_timesteps
    return np.linspace(scale * 0.0001, scale * 0.02, num_timesteps, dtype=np.float64)


def _take(arr: np.ndarray, t: torch.Tensor, ndim: int) -> torch.Tensor:
    out = torch.from_numpy(arr).to(t.device)[t].float()
    return out.view(-1, *([1] * (ndim - 1)))


class GaussianDiffusion:
    def __init__(self, betas: np.ndarray):
        self.betas = np.asarray(betas, dtype=np.float64)
        self.num_timesteps = len(self.betas)
        alphas = 1.0 - self.betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        self.posterior_variance = self.betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_log_variance_clipped = np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
        self.posterior_mean_coef1 = self.betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        n = x0.ndim
        return _take(self.sqrt_alphas_cumprod, t, n) * x0 + _take(self.sqrt_one_minus_alphas_cumprod, t, n) * noise

    def predict_x0(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        n = xt.ndim
        return _take(self.sqrt_recip_alphas_cumprod, t, n) * xt - _take(self.sqrt_recipm1_alphas_cumprod, t, n) * eps

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = xt.ndim
        mean = _take(self.posterior_mean_coef1, t, n) * x0 + _take(self.posterior_mean_coef2, t, n) * xt
        return mean, _take(self.posterior_log_variance_clipped, t, n)

    def model_log_variance(self, var_values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """iDDPM's learned interpolation (in log space) between beta_t and the posterior variance."""
        n = var_values.ndim
        frac = (var_values + 1) / 2
        return frac * _take(np.log(self.betas), t, n) + (1 - frac) * _take(self.posterior_log_variance_clipped, t, n)

    def hybrid_loss(self, model, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> dict[str, torch.Tensor]:
        xt = self.q_sample(x0, t, noise)
        out = model(xt, t)
        c = x0.shape[1]
        eps, var_values = out[:, :c], out[:, c:]
        mse = ((noise - eps) ** 2).mean(dim=(1, 2, 3))
        # The VLB term trains the variance only: the mean comes from the detached eps prediction.
        true_mean, true_logvar = self.q_posterior(x0, xt, t)
        model_mean, _ = self.q_posterior(self.predict_x0(xt, t, eps.detach()), xt, t)
        model_logvar = self.model_log_variance(var_values, t)
        kl = normal_kl(true_mean, true_logvar, model_mean, model_logvar).mean(dim=(1, 2, 3)) / math.log(2.0)
        nll = discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_logvar)
        nll = -nll.mean(dim=(1, 2, 3)) / math.log(2.0)
        vb = torch.where(t == 0, nll, kl) * (self.num_timesteps / 1000.0)
        return {"loss": (mse + vb).mean(), "mse": mse.mean(), "vb": vb.mean()}


def normal_kl(mean1, logvar1, mean2, logvar2):
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _approx_std_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    """Log-likelihood of 8-bit images in [-1, 1] under a Gaussian discretised to 255 bins."""
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = _approx_std_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = _approx_std_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_cdf_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_cdf_delta))
