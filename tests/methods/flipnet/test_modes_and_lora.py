
import torch

from bfrbench.methods.flipnet.adapter import MODES
from bfrbench.methods.flipnet.diffusion_module import FlipNetDiffusionModule
from bfrbench.methods.flipnet.model import roles
from flipnet_tiny import RES, SCHEDULE, tiny_flipnet

LOSS = {"p_degrade": 0.5, "x0_mse": 1.0, "x0_perceptual": 0.0}


def _batch(seed=0, n=2):
    g = torch.Generator().manual_seed(seed)
    hq = torch.rand(n, 3, RES, RES, generator=g)
    lq = (hq + 0.3 * torch.randn(n, 3, RES, RES, generator=g)).clamp(0, 1)
    return hq, lq


def test_roles_swap_hq_and_lq():
    hq, lq = _batch()
    mode = torch.tensor([MODES["restore"], MODES["degrade"]])
    target, cond = roles(hq, lq, mode)
    assert torch.equal(target[0], hq[0]) and torch.equal(cond[0], lq[0])
    assert torch.equal(target[1], lq[1]) and torch.equal(cond[1], hq[1])


def test_switching_modes_swaps_what_is_denoised_and_what_conditions(monkeypatch):
    model = tiny_flipnet()
    module = FlipNetDiffusionModule(model, SCHEDULE, LOSS, {"lr": 1e-3, "weight_decay": 0.0})
    hq, lq = _batch()
    seen = {}
    real_eps, real_tokens = model.eps, model.tokens

    def spy_eps(z_t, t, z_cond, tokens):
        seen["z_cond"] = z_cond
        return real_eps(z_t, t, z_cond, tokens)

    def spy_tokens(cond, mode):
        seen["cond"], seen["mode"] = cond, mode
        return real_tokens(cond, mode)

    monkeypatch.setattr(model, "eps", spy_eps)
    monkeypatch.setattr(model, "tokens", spy_tokens)
    noise = torch.zeros(2, 4, 8, 8)
    t = torch.zeros(2, dtype=torch.long)
    for name, cond in (("restore", lq), ("degrade", hq)):
        mode = torch.full((2,), MODES[name])
        module.losses(hq, lq, mode, noise, t)
        with torch.no_grad():
            torch.testing.assert_close(seen["z_cond"], model.encode(cond))
        assert torch.equal(seen["cond"], cond) and torch.equal(seen["mode"], mode)
    # the two modes use different encoders and mode tokens for the same image
    with torch.no_grad():
        a = real_tokens(hq, torch.full((2,), MODES["restore"]))
        b = real_tokens(hq, torch.full((2,), MODES["degrade"]))
    assert (a - b).abs().max() > 1e-4


def test_forward_backward_and_a_few_steps_lower_the_loss():
    torch.manual_seed(0)
    model = tiny_flipnet()
    module = FlipNetDiffusionModule(model, SCHEDULE, LOSS, {"lr": 3e-3, "weight_decay": 0.0})
    opt = module.configure_optimizers()
    hq, lq = _batch(n=4)
    mode = torch.tensor([0, 1, 0, 1])
    noise = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([100, 300, 500, 700])
    losses = []
    for _ in range(15):
        out = module.losses(hq, lq, mode, noise, t)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert set(out) >= {"ldm", "x0_mse", "loss"}
    assert losses[-1] < 0.92 * losses[0], losses


def test_lora_training_leaves_the_frozen_weights_untouched():
    torch.manual_seed(0)
    model = tiny_flipnet()
    trainable = model.trainable_names()
    frozen_before = {k: v.clone() for k, v in model.state_dict().items() if k not in trainable}
    train_before = {k: v.clone() for k, v in model.state_dict().items() if k in trainable}
    assert any("lora_A" in k for k in trainable) and any(".processor.boost_" in k for k in trainable)
    assert any(k.startswith("adapter.") for k in trainable)
    assert not any(k.startswith(("vae.", "embedding.")) for k in trainable)
    assert not any(("attn" in k and "base_layer" in k) for k in trainable)
    module = FlipNetDiffusionModule(model, SCHEDULE, LOSS, {"lr": 1e-2, "weight_decay": 0.1})
    opt = module.configure_optimizers()
    hq, lq = _batch(n=2)
    for _ in range(3):
        out = module.losses(hq, lq, torch.tensor([0, 1]), torch.randn(2, 4, 8, 8), torch.tensor([200, 600]))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    after = model.state_dict()
    for k, v in frozen_before.items():
        assert torch.equal(after[k], v), k
    changed = [k for k, v in train_before.items() if not torch.equal(after[k], v)]
    assert any("lora_B" in k for k in changed) and any("boost_out" in k for k in changed)


def test_trainable_state_round_trips_onto_a_fresh_backbone():
    a = tiny_flipnet(seed=0)
    with torch.no_grad():
        for p in a.parameters():
            if p.requires_grad:
                p.add_(0.01)
    b = tiny_flipnet(seed=0)
    b.load_trainable(a.trainable_state())
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
