"""`codeformer` (fidelity weight w=0.5, the official default) and `codeformer_w1` (w=1, a link to its models).

With the official `codeformer.pth` present (weights: auto), the stages write an 'official weights' card instead of
training and restore loads it; otherwise they train and the card says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.config import merge_known
from bfrbench.errors import BFRBenchError, ConfigError
from bfrbench.methods.base import StageContext, read_card, write_card
from bfrbench.methods.codeformer.config import DEFAULTS, OFFICIAL_ARCH, VQGAN_KEYS
from bfrbench.methods.common import (SUITE, card_is_official, datamodule, load_stage_blob, official_card,
                                     resize_batch, unwrap_state, use_official, work_dir)
from bfrbench.methods.link import models_sha256, verified_link

ASSETS = ("codeformer",)


class _Restorer:
    def __init__(self, net, w: float, device: str):
        self.net, self.w, self.device = net.to(device).eval(), w, device

    def restore(self, lq: np.ndarray) -> np.ndarray:
        import torch

        from bfrbench.data.tensors import to_tensor, to_uint8

        with torch.inference_mode():
            x = torch.stack([to_tensor(img) for img in lq]).to(self.device)
            size = x.shape[-1]
            y = self.net(resize_batch(x, self.net.img_size) * 2 - 1, w=self.w, adain=True)[0]
            return to_uint8(resize_batch((y.clamp(-1, 1) + 1) / 2, size))


class CodeFormerMethod:
    name = "codeformer"
    stages = ("vqgan", "transformer", "cft")
    fidelity_weight = 0.5

    def default_config(self, stage: str) -> dict[str, Any]:
        return json.loads(json.dumps(DEFAULTS[stage]))

    def train(self, ctx: StageContext) -> dict[str, Any]:
        import torch

        from bfrbench.training.trainer import fit, trainer_config

        where = f"{self.name}/{ctx.stage}"
        cfg = merge_known(DEFAULTS[ctx.stage], ctx.config, where)
        official, why = use_official(cfg["weights"], ASSETS, where)
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        if official:
            write_card(ctx.out_dir, official_card(self.name, ctx.stage, ASSETS, cfg))
            return {}
        tcfg = trainer_config(cfg["trainer"], f"{where}.trainer")
        module, arch = self._module(ctx, cfg)
        dm = datamodule(ctx, cfg["data"], size=arch["img_size"])
        work = work_dir(ctx, self.name, cfg)
        trainer = fit(module, dm, tcfg, work, run=ctx.logger, progress=ctx.progress)
        if trainer.global_rank != 0:
            return {}
        blob = {"config": arch, "state_dict": module.net_ema.state_dict()}
        if hasattr(module, "disc"):
            blob["discriminator"] = module.disc.state_dict()
        torch.save(blob, ctx.out_dir / "model.pt")
        from bfrbench.methods.unet_l1 import trained_steps

        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        write_card(ctx.out_dir, {"method": self.name, "stage": ctx.stage, "source": SUITE,
                                 "why_not_official": why, "config": cfg,
                                 "steps": trained_steps(trainer, work / "checkpoints"), "final_metrics": metrics})
        return metrics

    def _module(self, ctx: StageContext, cfg: dict[str, Any]):
        from bfrbench.methods.codeformer import modules

        if ctx.stage == "vqgan":
            arch = cfg["arch"]
            if arch["img_size"] != ctx.size:
                raise BFRBenchError(f"{self.name}/vqgan: arch.img_size {arch['img_size']} != profile size {ctx.size}",
                                    fix="set arch.img_size to the profile's `size`")
            vq = {k: arch[k] for k in VQGAN_KEYS}
            return modules.VQGANStage(vq, cfg["disc"], cfg["optim"], cfg["losses"], cfg["ema_decay"],
                                      cfg["disc_start"]), arch
        stage1 = load_stage_blob(ctx.models_dir, "vqgan", self.name)
        arch = stage1["config"]
        if ctx.stage == "transformer":
            return modules.CodePredictionStage(arch, stage1["state_dict"], cfg["optim"], cfg["losses"],
                                               cfg["ema_decay"]), arch
        stage2 = load_stage_blob(ctx.models_dir, "transformer", self.name)
        return modules.CFTStage(arch, stage1["state_dict"], stage2["state_dict"], load_disc_config(ctx.models_dir),
                                stage1.get("discriminator"), cfg["optim"], cfg["losses"], cfg["ema_decay"],
                                cfg["disc_start"], cfg["w"], cfg["scale_adaptive_gan_weight"]), arch

    def load(self, models_dir: Path, device: str = "cpu") -> _Restorer:
        import torch

        from bfrbench.archs.codeformer import CodeFormer

        card = read_card(Path(models_dir) / "cft")
        if card_is_official(card):
            from bfrbench.weights import weights_path

            net = CodeFormer(**OFFICIAL_ARCH)
            blob = torch.load(weights_path("codeformer"), map_location="cpu", weights_only=True)
            net.load_state_dict(unwrap_state(blob, "params_ema"), strict=True)
        else:
            blob = load_stage_blob(models_dir, "cft", self.name)
            net = CodeFormer(**blob["config"])
            net.load_state_dict(blob["state_dict"], strict=True)
        return _Restorer(net, self.fidelity_weight, device)


def load_disc_config(models_dir: Path) -> dict[str, Any]:
    card = read_card(Path(models_dir) / "vqgan")
    return card.get("config", {}).get("disc") or DEFAULTS["vqgan"]["disc"]


class CodeFormerW1:
    """`codeformer_w1`: codeformer's models restored with fidelity weight w=1 (no training).

    Its one stage, `link` (dvc.yaml `link` group), records the sha256 of the models it uses, so DVC re-runs its
    restores whenever codeformer's models change; `load` refuses a link whose models changed since.
    """

    name = "codeformer_w1"
    stages = ("link",)
    defaults: dict[str, Any] = {"uses": "codeformer", "w": 1.0}

    def default_config(self, stage: str) -> dict[str, Any]:
        if stage not in self.stages:
            raise ConfigError(f"{self.name} has no stage {stage!r}", fix="its only stage is `link`")
        return dict(self.defaults)

    def train(self, ctx: StageContext) -> dict[str, Any]:
        cfg = merge_known(self.defaults, ctx.config, f"{self.name}/link")
        if cfg["uses"] != "codeformer" or not 0.0 <= float(cfg["w"]) <= 1.0:
            raise ConfigError(f"{self.name}/link: uses {cfg['uses']!r}, w {cfg['w']}", fix="uses: codeformer, w in [0, 1]")
        used = ctx.models_dir.parent / cfg["uses"]
        hashes = models_sha256(used, cfg["uses"], CodeFormerMethod.stages)
        sources = {stage: read_card(used / stage).get("source", "?") for stage in CodeFormerMethod.stages}
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        write_card(ctx.out_dir, {"method": self.name, "stage": "link", "uses": cfg["uses"], "w": float(cfg["w"]),
                                 "models_sha256": hashes, "source": f"no training: codeformer's models "
                                 f"({sources['cft']}) with fidelity weight w={cfg['w']}"})
        return {}

    def load(self, models_dir: Path, device: str = "cpu") -> _Restorer:
        card, used = verified_link(models_dir, self.name)
        restorer = CodeFormerMethod().load(used, device)
        restorer.w = float(card["w"])
        return restorer
