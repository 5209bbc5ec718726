"""Smoke-only: fit a randomly initialised VAE as an autoencoder before it is frozen.

A frozen random VAE is no latent space at all (decode(encode(x)) is noise), so the `source: config` backbone first
learns to reconstruct the training faces (HQ and their LQ) with L1 + a small KL term, the way Stable Diffusion's VAE
was trained before the UNet (without its GAN/LPIPS terms). With `source: pretrained` this never runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.nn import functional as F


def fit_vae(vae, dm, cfg: Mapping[str, Any], seed: int, resolution: int, kl_weight: float = 1e-6) -> dict[str, Any]:
    from bfrbench.methods.flipnet.embedding_module import resize_batch

    dm.setup("fit")
    loader = torch.utils.data.DataLoader(dm.train_set, batch_size=int(cfg["batch_size"]),
                                         sampler=_sampler(len(dm.train_set), seed), drop_last=False)
    opt = torch.optim.Adam(vae.parameters(), lr=float(cfg["lr"]))
    vae.train()
    step, first, last = 0, None, None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        while step < int(cfg["steps"]):
            for batch in loader:
                batch = resize_batch(batch, resolution)
                x = torch.cat([batch["hq"], batch["lq"]]) * 2 - 1
                post = vae.encode(x).latent_dist
                rec = vae.decode(post.sample()).sample
                loss = F.l1_loss(rec, x) + kl_weight * post.kl().mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                first = float(loss.detach()) if first is None else first
                last = float(loss.detach())
                step += 1
                if step >= int(cfg["steps"]):
                    break
    vae.eval()
    return {"steps": step, "first_loss": first, "last_loss": last}


def _sampler(n: int, seed: int):
    from bfrbench.data.datamodule import EpochIndexSampler

    return EpochIndexSampler(n, seed + 7)
