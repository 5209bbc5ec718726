import torch

from bfrbench.methods.flipnet.adapter import EmbeddingAdapter
from bfrbench.methods.flipnet.embedding import (
    FaceEmbedding,
    patch_alignment_loss,
    patch_tokens,
)
from bfrbench.methods.flipnet.embedding_module import EmbedAEModule, EmbedAlignModule


def _batch(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    hq = torch.rand(n, 3, size, size, generator=g)
    return {"hq": hq, "lq": (hq + 0.2 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)}


def test_stage1_autoencoders_forward_backward_all_three_losses():
    torch.manual_seed(0)
    m = EmbedAEModule({"channels": [8, 16], "dim": 8, "disc_channels": [8, 16]},
                      {"l1": 1.0, "perceptual": 0.5, "adversarial": 0.1, "adversarial_start": 0},
                      {"weights": "random", "layers": ["relu1_2"]}, {"lr": 1e-3, "lr_disc": 1e-3}, 0, 32)
    b = _batch()
    loss, rec = m._generator_loss("hq", b["hq"], use_adv=True)
    loss.backward()
    assert rec.shape == b["hq"].shape and 0 <= float(rec.min()) and float(rec.max()) <= 1
    assert m.ae["hq"].encoder.net[0].weight.grad is not None
    assert m.ae["lq"].encoder.net[0].weight.grad is None  # the two autoencoders are separate
    assert all(p.grad is None for p in m.perceptual.parameters())


def test_patch_alignment_is_cross_entropy_on_the_n_by_n_diagonal():
    tok = torch.randn(2, 16, 8, generator=torch.Generator().manual_seed(0))
    scale = torch.tensor(4.0)  # exp(4) ~ 55
    same = patch_alignment_loss(tok, tok, scale)
    shuffled = patch_alignment_loss(tok, tok[:, torch.randperm(16, generator=torch.Generator().manual_seed(1))], scale)
    assert float(same["top1"]) == 1.0 and float(same["loss"]) < 0.5
    assert float(shuffled["loss"]) > float(same["loss"]) + 1.0
    # by hand for one image: row i of the LQ-vs-HQ similarity must pick column i
    q = torch.nn.functional.normalize(tok[0], dim=-1)
    logits = scale.exp() * q @ q.T
    expected = torch.nn.functional.cross_entropy(logits, torch.arange(16))
    one = patch_alignment_loss(tok[:1], tok[:1], scale)
    torch.testing.assert_close(one["loss"], expected)


def test_stage2_moves_the_lq_encoder_only_and_lowers_the_loss():
    torch.manual_seed(0)
    m = EmbedAlignModule({"channels": [8, 16], "dim": 8, "proj_dim": 8}, {"lr": 3e-3, "weight_decay": 0.0}, 32)
    hq_before = {k: v.clone() for k, v in m.embedding.hq.state_dict().items()}
    opt = m.configure_optimizers()
    b = _batch()
    losses = []
    for _ in range(25):
        loss = m._loss(b)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0], losses
    assert all(torch.equal(v, m.embedding.hq.state_dict()[k]) for k, v in hq_before.items())


def test_embedding_tokens_and_adapter_shapes():
    emb = FaceEmbedding([8, 16], 8, 12)
    img = torch.rand(3, 3, 32, 32)
    tok = emb.embed(img, "lq")
    assert tok.shape == (3, 64, 12)  # 32 / 2^2 = 8 -> 8 x 8 patches
    assert patch_tokens(emb.hq(img)).shape == (3, 64, 8)
    ad = EmbeddingAdapter(12, 20, 64)
    out = ad(tok, torch.tensor([0, 1, 0]))
    assert out.shape == (3, 65, 20)  # patches + the mode token
