"""Identity guidance moves only the masked latent features, and moves them toward the target identity."""

from __future__ import annotations

import torch

from bfrbench.methods.clrface.face_id import FaceIdentity
from bfrbench.methods.clrface.guidance import IdentityGuidance
from bfrbench.methods.clrface.irn import LatentMask
from bfrbench.methods.clrface.sde import VESDE, ReverseSampler
from bfrbench.methods.clrface.vqgan import VQGAN
from bfrbench.nets.dlib_resnet import DlibResNet


def _setup(scale=0.5, fraction=0.25):
    torch.manual_seed(0)
    vqgan = VQGAN([8, 8, 8], downsample=4, embed_dim=2, codebook_size=8).eval()
    face_id = FaceIdentity(DlibResNet())  # random weights: code path only
    mask = LatentMask(2, 8, 8)
    mask.logits.data = torch.randn(2, 8, 8)
    hard = mask.hard(fraction)
    target = torch.randn(2, 128)
    sde = VESDE(0.01, 5.0)
    return IdentityGuidance(vqgan, face_id, sde, 1.0, hard, target, scale, t_max=0.5), hard, sde


def test_guidance_changes_only_masked_latents():
    guidance, hard, _ = _setup()
    assert 0 < float(hard.mean()) < 1 and float(hard.mean()) == 0.25
    x = torch.randn(2, 2, 8, 8)
    delta = guidance(x, torch.full((2,), 0.3), torch.zeros_like(x))
    outside = delta * (1 - hard)
    assert torch.count_nonzero(outside) == 0
    assert torch.count_nonzero(delta * hard) > 0.9 * 2 * hard.sum()


def test_guidance_lowers_the_identity_loss():
    guidance, hard, _ = _setup(scale=0.05, fraction=1.0)
    x = torch.randn(2, 2, 8, 8)

    def loss(z):
        with torch.no_grad():
            emb = guidance.face_id.embed(guidance.vqgan.decode(z))
            return float((1 - (emb * torch.nn.functional.normalize(guidance.target, dim=1)).sum(1)).sum())

    t = torch.full((2,), 1e-3)  # std ~ 0: x0 estimate = x
    delta = guidance(x, t, torch.zeros_like(x))
    assert loss(x + delta) < loss(x)


def test_guidance_inactive_above_t_max_or_at_zero_scale():
    guidance, _, _ = _setup()
    x = torch.randn(2, 2, 8, 8)
    assert guidance(x, torch.full((2,), 0.9), torch.zeros_like(x)) is None
    guidance.scale = 0.0
    assert guidance(x, torch.full((2,), 0.1), torch.zeros_like(x)) is None


def test_sampler_applies_guidance_only_on_the_mask():
    """One step: same seed with and without guidance; before the final denoise, only masked features differ."""
    guidance, hard, sde = _setup()
    guidance.t_max = 1.0
    seen = {}

    class Recorder(ReverseSampler):
        def denoise(self, score, x, t):
            seen.setdefault("x", []).append(x.clone())
            return x

    sampler = Recorder(sde, steps=1)
    score = lambda x, t: -x / (1 + sde.marginal(t)[1].view(-1, 1, 1, 1) ** 2)  # noqa: E731
    sampler.sample(score, (2, 2, 8, 8), torch.Generator().manual_seed(3))
    sampler.sample(score, (2, 2, 8, 8), torch.Generator().manual_seed(3), guidance=guidance)
    plain, guided = seen["x"]
    diff = (guided - plain).abs()
    assert float((diff * (1 - hard)).max()) == 0.0
    assert float((diff * hard).max()) > 0.0
