import torch

from bfrbench.methods.flipnet.backbone import build_from_config
from bfrbench.methods.flipnet.boosthub import boosthub_parameters, install_boosthub
from flipnet_tiny import TINY_UNET, TINY_VAE


def _pair_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(4, 4, 8, 8, generator=g)
    t = torch.tensor([500, 20, 0, 0])
    ctx = torch.randn(4, 3, 16, generator=g)
    return z, t, ctx


def test_boosthub_is_the_identity_at_init():
    unet, _ = build_from_config(TINY_UNET, TINY_VAE, 0)
    unet.eval()
    z, t, ctx = _pair_inputs()
    with torch.no_grad():
        before = unet(z, t, encoder_hidden_states=ctx).sample
        layers = install_boosthub(unet, phi=1.0)
        after = unet(z, t, encoder_hidden_states=ctx).sample
    assert layers and all(name.endswith("attn1") for name in layers)
    assert len(layers) == sum(1 for n in unet.attn_processors if n.endswith("attn1.processor"))
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)


def test_boosthub_reads_the_condition_branch_into_the_denoised_branch_only():
    unet, _ = build_from_config(TINY_UNET, TINY_VAE, 0)
    unet.eval()
    install_boosthub(unet, phi=1.0)
    for p in boosthub_parameters(unet):  # open W_O so the branch does something
        if p.ndim == 2 and p.abs().sum() == 0:
            torch.nn.init.normal_(p, std=0.5)
    z, t, ctx = _pair_inputs()
    z2 = z.clone()
    z2[2:] += torch.randn_like(z2[2:])  # change the condition branch only
    with torch.no_grad():
        a = unet(z, t, encoder_hidden_states=ctx).sample
        b = unet(z2, t, encoder_hidden_states=ctx).sample
    # the denoised half now depends on the condition half (through BoostHub) ...
    assert (a[:2] - b[:2]).abs().max() > 1e-4
    # ... and with phi = 0 it does not: self-attention never mixes samples
    for proc in unet.attn_processors.values():
        if hasattr(proc, "phi"):
            proc.phi = 0.0
    with torch.no_grad():
        a0 = unet(z, t, encoder_hidden_states=ctx).sample
        b0 = unet(z2, t, encoder_hidden_states=ctx).sample
    torch.testing.assert_close(a0[:2], b0[:2], rtol=0, atol=1e-6)


def test_boosthub_weights_are_in_the_state_dict_and_w_o_starts_at_zero():
    unet, _ = build_from_config(TINY_UNET, TINY_VAE, 0)
    install_boosthub(unet)
    keys = [k for k in unet.state_dict() if ".processor.boost_" in k]
    assert any(k.endswith("boost_out.weight") for k in keys)
    for k, v in unet.state_dict().items():
        if "boost_out" in k:
            assert torch.count_nonzero(v) == 0
