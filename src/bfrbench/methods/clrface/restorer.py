"""CLR-Face restoration: degraded latent -> score-based sampling (with masked identity guidance) -> decode."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bfrbench.methods.clrface.face_id import FaceIdentity
from bfrbench.methods.clrface.guidance import IdentityGuidance
from bfrbench.methods.clrface.irn import IdentityRecoveryNet
from bfrbench.methods.clrface.score_net import LatentScoreModel
from bfrbench.methods.clrface.sde import ReverseSampler
from bfrbench.methods.clrface.vqgan import VQGAN
from bfrbench.methods.common import image_seed


class CLRFaceRestorer:
    def __init__(self, vqgan: VQGAN, prior: LatentScoreModel, latent_scale: float, irn: IdentityRecoveryNet,
                 face_id: FaceIdentity, mask: torch.Tensor, sampling: dict[str, Any], seed: int,
                 device: str = "cpu"):
        self.device = device
        self.vqgan = vqgan.to(device).eval()
        self.prior = prior.to(device).eval()
        self.irn = irn.to(device).eval()
        self.face_id = face_id.to(device).eval()
        self.latent_scale, self.seed = float(latent_scale), int(seed)
        self.sampling = dict(sampling)
        self.mask = mask.to(device)
        self.sampler = ReverseSampler(prior.sde, steps=int(sampling["steps"]), method=sampling["method"],
                                      t_eps=float(sampling["t_eps"]), t_start=float(sampling["t_start"]))

    @property
    def nfe(self) -> int:
        """Score-network calls per image: one per reverse step, one more after each step where the identity guidance
        is on (it needs the score at the new point: IdentityGuidance.active), and the final Tweedie step."""
        scale, t_max = float(self.sampling["guidance_scale"]), float(self.sampling["guidance_t_max"])
        guided = sum(1 for t in self.sampler.timesteps()[1:] if scale != 0 and float(t) <= t_max)
        return self.sampler.steps + guided + 1

    def restore_tensor(self, lq: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
        with torch.no_grad():
            cond = self.vqgan.encode(lq) * self.latent_scale
            target = self.irn(lq)
        guidance = IdentityGuidance(self.vqgan, self.face_id, self.prior.sde, self.latent_scale, self.mask, target,
                                    float(self.sampling["guidance_scale"]), float(self.sampling["guidance_t_max"]))

        def score(x, t):
            return self.prior.score(x, cond, t)

        z = self.sampler.sample(score, tuple(cond.shape), generators, start=cond, guidance=guidance,
                                device=self.device)
        with torch.no_grad():
            z = z / self.latent_scale
            if self.sampling["quantize_output"]:
                z = self.vqgan.quantize(z)
            return self.vqgan.decode(z).clamp(0, 1)

    def restore(self, lq: np.ndarray) -> np.ndarray:
        from bfrbench.data.tensors import to_tensor, to_uint8

        x = torch.stack([to_tensor(img) for img in lq]).to(self.device)
        gens = [torch.Generator().manual_seed(image_seed(self.seed, img)) for img in lq]
        return to_uint8(self.restore_tensor(x, gens))
