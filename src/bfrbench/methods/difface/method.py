"""`difface`: train the estimator and the prior, restore with the diffused-estimator sampler.

With both official files present (weights: auto), the stages write an 'official weights' card instead of training
and restore runs the released networks at 512 px (inputs of other sizes are resized there and back, as DifFace does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.config import merge_known
from bfrbench.errors import BFRBenchError
from bfrbench.methods.base import StageContext, read_card, write_card
from bfrbench.methods.common import (SUITE, card_is_official, datamodule, image_seed, load_stage_blob, official_card,
                                     resize_batch, unwrap_state, use_official, work_dir)
from bfrbench.methods.difface.config import DEFAULTS, OFFICIAL_ESTIMATOR, OFFICIAL_PRIOR

ASSETS = {"estimator": ("difface_swinir512",), "prior": ("difface_iddpm_ffhq512",)}


class _Restorer:
    def __init__(self, estimator, prior, sampler, size: int, seed: int, device: str):
        self.estimator, self.prior = estimator.to(device).eval(), prior.to(device).eval()
        self.sampler, self.size, self.seed, self.device = sampler, size, seed, device

    def restore(self, lq: np.ndarray) -> np.ndarray:
        import torch

        from bfrbench.data.tensors import to_tensor, to_uint8

        seeds = [image_seed(self.seed, img) for img in lq]
        with torch.inference_mode():
            y0 = torch.stack([to_tensor(img) for img in lq]).to(self.device)
            size = y0.shape[-1]
            est = self.estimator(resize_batch(y0, self.size)).clamp(0, 1)
            out = self.sampler(self.prior, est * 2 - 1, seeds)
            return to_uint8(resize_batch((out.clamp(-1, 1) + 1) / 2, size))


class DifFaceMethod:
    name = "difface"
    stages = ("estimator", "prior")

    def default_config(self, stage: str) -> dict[str, Any]:
        return json.loads(json.dumps(DEFAULTS[stage]))

    def train(self, ctx: StageContext) -> dict[str, Any]:
        import torch

        from bfrbench.methods.difface.modules import EstimatorStage, PriorStage
        from bfrbench.methods.unet_l1 import trained_steps
        from bfrbench.training.trainer import fit, trainer_config

        where = f"{self.name}/{ctx.stage}"
        cfg = merge_known(DEFAULTS[ctx.stage], ctx.config, where)
        if ctx.stage == "prior":
            from bfrbench.methods.difface.sampler import SamplerConfig

            try:
                SamplerConfig(**cfg["sampler"]).validate(cfg["diffusion_steps"])
            except (TypeError, ValueError) as exc:
                raise BFRBenchError(f"{where}.sampler: {exc}", fix="see experiments/difface/prior_paper.yaml") from None
        official, why = use_official(cfg["weights"], ASSETS[ctx.stage], where)
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        if official:
            write_card(ctx.out_dir, official_card(self.name, ctx.stage, ASSETS[ctx.stage], cfg) | {"seed": ctx.seed})
            return {}
        arch = cfg["arch"]
        if ctx.stage == "estimator":
            if arch["img_size"] * arch["sf"] != ctx.size:
                raise BFRBenchError(f"{where}: arch.img_size x arch.sf = {arch['img_size'] * arch['sf']} must equal the "
                                    f"profile size {ctx.size}", fix=f"set arch.img_size to {ctx.size // arch['sf']}")
            module = EstimatorStage(arch, cfg["optim"]["lr"], cfg["optim"]["lr_min"])
        else:
            if arch["image_size"] != ctx.size:
                raise BFRBenchError(f"{where}: arch.image_size {arch['image_size']} != profile size {ctx.size}",
                                    fix="set arch.image_size to the profile's `size`")
            module = PriorStage(arch, cfg["diffusion_steps"], cfg["optim"]["lr"], cfg["ema_decay"])
        tcfg = trainer_config(cfg["trainer"], f"{where}.trainer")
        work = work_dir(ctx, self.name, cfg)
        trainer = fit(module, datamodule(ctx, cfg["data"]), tcfg, work, run=ctx.logger, progress=ctx.progress)
        if trainer.global_rank != 0:
            return {}
        net = module.net_ema if ctx.stage == "prior" else module.net
        torch.save({"config": arch, "state_dict": net.state_dict()}, ctx.out_dir / "model.pt")
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        write_card(ctx.out_dir, {"method": self.name, "stage": ctx.stage, "source": SUITE, "why_not_official": why,
                                 "config": cfg, "seed": ctx.seed,
                                 "steps": trained_steps(trainer, work / "checkpoints"), "final_metrics": metrics})
        return metrics

    def load(self, models_dir: Path, device: str = "cpu") -> _Restorer:
        from bfrbench.archs.iddpm_unet import IDDPMUNet
        from bfrbench.archs.swinir import SwinIRUnshuffle
        from bfrbench.methods.difface.diffusion import GaussianDiffusion, linear_betas
        from bfrbench.methods.difface.sampler import DifFaceSampler, SamplerConfig

        models_dir = Path(models_dir)
        est_card, prior_card = read_card(models_dir / "estimator"), read_card(models_dir / "prior")
        if not prior_card:
            raise BFRBenchError(f"{models_dir / 'prior'}: no model card", fix="run `dvc repro train@difface-prior`")
        estimator = self._load_net(models_dir, "estimator", est_card, SwinIRUnshuffle, OFFICIAL_ESTIMATOR)
        prior = self._load_net(models_dir, "prior", prior_card, IDDPMUNet, OFFICIAL_PRIOR)
        cfg = prior_card["config"]
        sampler = DifFaceSampler(GaussianDiffusion(linear_betas(cfg["diffusion_steps"])), SamplerConfig(**cfg["sampler"]))
        size = prior.image_size
        if estimator.img_size * estimator.sf != size:
            raise BFRBenchError(f"{models_dir}: the estimator works at {estimator.img_size * estimator.sf} px, the prior "
                                f"at {size} px", fix="train (or fetch) both stages for the same size")
        return _Restorer(estimator, prior, sampler, size, int(prior_card.get("seed", 0)), device)

    def _load_net(self, models_dir: Path, stage: str, card: dict, cls, official_arch: dict):
        import torch

        if card_is_official(card):
            from bfrbench.weights import weights_path

            net = cls(**official_arch)
            blob = torch.load(weights_path(ASSETS[stage][0]), map_location="cpu", weights_only=True)
            net.load_state_dict(unwrap_state(blob, None), strict=True)
            return net
        blob = load_stage_blob(models_dir, stage, self.name)
        net = cls(**blob["config"])
        net.load_state_dict(blob["state_dict"], strict=True)
        return net
