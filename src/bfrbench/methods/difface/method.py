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
from bfrbench.errors import BFRBenchError, ConfigError
from bfrbench.methods.base import StageContext, read_card
from bfrbench.methods.common import (
    card_is_official,
    image_seed,
    load_stage_blob,
    official_card,
    resize_batch,
    unwrap_state,
    use_official,
)
from bfrbench.methods.difface.config import DEFAULTS, OFFICIAL_ESTIMATOR, OFFICIAL_PRIOR, SAMPLING
from bfrbench.training.stage import NoTraining, TrainPlan

ASSETS = {"estimator": ("difface_swinir512",), "prior": ("difface_iddpm_ffhq512",)}


class _Restorer:
    def __init__(self, estimator, prior, sampler, size: int, seed: int, device: str):
        self.estimator, self.prior = estimator.to(device).eval(), prior.to(device).eval()
        self.sampler, self.size, self.seed, self.device = sampler, size, seed, device

    @property
    def nfe(self) -> int:
        """The estimator once, then the prior at respaced steps start_step-1 ... 0."""
        return 1 + self.sampler.config.start_step

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

    def sampling_defaults(self) -> dict[str, Any]:
        return dict(SAMPLING)

    def preflight_config(self, stage: str, cfg: dict[str, Any], size: int):
        """bfrbench preflight: train the stage even when the official weights are present; the networks' image
        size follows the preflight's size."""
        from bfrbench.methods.preflight import effective, set_key, start

        change, eff = start(cfg), effective(self, stage, cfg)
        if eff["weights"] != "suite":
            if use_official(eff["weights"], ASSETS[stage], f"{self.name}/{stage}")[0]:
                change.notes.append("official weights present (the real run would load them and train nothing); "
                                    "preflight trains the stage: weights: suite")
            change.config["weights"] = "suite"
        arch = eff["arch"]
        key, want = ("img_size", size // arch["sf"]) if stage == "estimator" else ("image_size", size)
        if arch[key] != want:
            set_key(change.config, f"arch.{key}", want)
            change.notes.append(f"arch.{key} {arch[key]} -> {want} (the preflight's size)")
        return change

    def preflight_sampling(self, block: dict[str, Any]):
        from bfrbench.methods.preflight import fewer_steps

        return fewer_steps(block, SAMPLING, "start_step")

    def plan(self, ctx: StageContext) -> TrainPlan | NoTraining:
        from bfrbench.methods.difface.modules import EstimatorStage, PriorStage

        where = f"{self.name}/{ctx.stage}"
        cfg = ctx.config
        official, why = use_official(cfg["weights"], ASSETS[ctx.stage], where)
        if official:
            return NoTraining(official_card(self.name, ctx.stage, ASSETS[ctx.stage], cfg) | {"seed": ctx.seed})
        arch = cfg["arch"]
        if ctx.stage == "estimator":
            if arch["img_size"] * arch["sf"] != ctx.size:
                raise BFRBenchError(f"{where}: arch.img_size x arch.sf = {arch['img_size'] * arch['sf']} must equal "
                                    f"the profile size {ctx.size}",
                                    fix=f"set arch.img_size to {ctx.size // arch['sf']}")
            module = EstimatorStage(arch, cfg["optim"]["lr"], cfg["optim"]["lr_min"])
        else:
            if arch["image_size"] != ctx.size:
                raise BFRBenchError(f"{where}: arch.image_size {arch['image_size']} != profile size {ctx.size}",
                                    fix="set arch.image_size to the profile's `size`")
            from bfrbench.training.schedules import check_schedule

            schedule = check_schedule(cfg["optim"].get("schedule"), where)
            module = PriorStage(arch, cfg["diffusion_steps"], cfg["optim"]["lr"], cfg["ema"]["decay"], schedule)

        def export(m) -> dict:
            net = m.net_ema if ctx.stage == "prior" else m.net
            return {"model.pt": {"config": arch, "state_dict": net.state_dict()}}

        return TrainPlan(module, export, card={"why_not_official": why, "seed": ctx.seed})

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None) -> _Restorer:
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
        steps = int(prior_card["config"]["diffusion_steps"])
        settings = SamplerConfig(**merge_known(SAMPLING, sampling or {}, "sampling.difface"))
        try:
            settings.validate(steps)
        except ValueError as exc:
            raise ConfigError(f"sampling.difface: {exc}", fix="see experiments/profiles/paper.yaml") from None
        sampler = DifFaceSampler(GaussianDiffusion(linear_betas(steps)), settings)
        size = prior.image_size
        if estimator.img_size * estimator.sf != size:
            raise BFRBenchError(f"{models_dir}: the estimator works at {estimator.img_size * estimator.sf} px, the "
                                f"prior at {size} px", fix="train (or fetch) both stages for the same size")
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
