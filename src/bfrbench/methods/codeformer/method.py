"""`codeformer` (fidelity weight w=0.5, the official default) and `codeformer_w1` (w=1, a link to its models).

With the official `codeformer.pth` present (weights: auto), the stages write an 'official weights' card instead of
training and restore loads it; otherwise they train and the card says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bfrbench.errors import BFRBenchError, ConfigError
from bfrbench.methods.base import StageContext, read_card
from bfrbench.methods.codeformer.config import DEFAULTS, OFFICIAL_ARCH, VQGAN_KEYS
from bfrbench.methods.codeformer.gray import gray_like_input, is_gray
from bfrbench.methods.codeformer.phases import check_phases
from bfrbench.methods.common import (
    card_is_official,
    load_stage_blob,
    official_card,
    resize_batch,
    unwrap_state,
    use_official,
)
from bfrbench.methods.link import models_sha256, verified_link
from bfrbench.training.stage import NoTraining, TrainPlan

ASSETS = ("codeformer",)


class _Restorer:
    nfe = 1  # one pass (encoder, code prediction, decoder)

    def __init__(self, net, w: float, device: str):
        self.net, self.w, self.device = net.to(device).eval(), w, device

    def restore(self, lq: np.ndarray) -> np.ndarray:
        import torch

        from bfrbench.data.tensors import to_tensor, to_uint8

        with torch.inference_mode():
            x = torch.stack([to_tensor(img) for img in lq]).to(self.device)
            size = x.shape[-1]
            y = self.net(resize_batch(x, self.net.img_size) * 2 - 1, w=self.w, adain=True)[0]
            out = to_uint8(resize_batch((y.clamp(-1, 1) + 1) / 2, size))
        # gray inputs give gray outputs, as the official pipeline (methods/codeformer/gray.py)
        return np.stack([gray_like_input(o, face) if is_gray(face) else o for o, face in zip(out, lq)])


class CodeFormerMethod:
    name = "codeformer"
    stages = ("vqgan", "transformer", "cft")
    fidelity_weight = 0.5

    def default_config(self, stage: str) -> dict[str, Any]:
        return json.loads(json.dumps(DEFAULTS[stage]))

    def plan(self, ctx: StageContext) -> TrainPlan | NoTraining:
        where = f"{self.name}/{ctx.stage}"
        cfg = ctx.config
        official, why = use_official(cfg["weights"], ASSETS, where)
        if official:
            return NoTraining(official_card(self.name, ctx.stage, ASSETS, cfg))
        from bfrbench.training.schedules import check_schedule

        check_schedule(cfg["optim"].get("schedule"), where)  # a bad schedule fails before the module is built
        module, arch, upstream = self._module(ctx, cfg)

        def export(m) -> dict:
            blob = {"config": arch, "state_dict": m.net_ema.state_dict()}
            if hasattr(m, "disc"):
                blob["discriminator"] = m.disc.state_dict()
            return {"model.pt": blob}

        return TrainPlan(module, export, card={"why_not_official": why}, size=arch["img_size"], upstream=upstream)

    def _module(self, ctx: StageContext, cfg: dict[str, Any]):
        """(LightningModule, network config, the earlier stages' files it reads)."""
        from bfrbench.methods.codeformer import modules

        loss, ema = cfg["loss"], cfg["ema"]["decay"]
        if ctx.stage == "vqgan":
            arch = cfg["arch"]
            if arch["img_size"] != ctx.size:
                raise BFRBenchError(f"{self.name}/vqgan: arch.img_size {arch['img_size']} != profile size {ctx.size}",
                                    fix="set arch.img_size to the profile's `size`")
            vq = {k: arch[k] for k in VQGAN_KEYS}
            return modules.VQGANStage(vq, cfg["disc"], cfg["optim"], loss, ema, loss["adversarial_start"]), arch, ()
        stage1 = load_stage_blob(ctx.models_dir, "vqgan", self.name)
        arch = stage1["config"]
        files = (ctx.models_dir / "vqgan" / "model.pt",)
        if ctx.stage == "transformer":
            return modules.CodePredictionStage(arch, stage1["state_dict"], cfg["optim"], loss, ema), arch, files
        phases = check_phases(cfg["phases"], f"{self.name}/cft")
        if any(p["mild_every"] != 1 or p["w"] == 0 for p in phases) and not cfg["data"]["lq_per_branch"]:
            raise ConfigError(f"{self.name}/cft: phases train large degradations, but data.lq_per_branch is false",
                              fix="keep data.lq_per_branch: true (and a two-branch preset, codeformer_stage3)")
        stage2 = load_stage_blob(ctx.models_dir, "transformer", self.name)
        module = modules.CFTStage(arch, stage1["state_dict"], stage2["state_dict"], load_disc_config(ctx.models_dir),
                                  stage1.get("discriminator"), cfg["optim"], loss, ema, loss["adversarial_start"],
                                  cfg["w"], cfg["scale_adaptive_gan_weight"],
                                  phases)
        return module, arch, files + (ctx.models_dir / "transformer" / "model.pt",)

    def sampling_defaults(self) -> dict[str, Any]:
        return {"w": self.fidelity_weight}

    def preflight_config(self, stage: str, cfg: dict[str, Any], size: int):
        """bfrbench preflight: train the stage even when the official weights are present; an absent LPIPS loss
        network runs with random weights; stage I's img_size follows the preflight's size."""
        from bfrbench.methods.preflight import effective, set_key, start
        from bfrbench.metrics.lpips import lpips_reason

        change, eff = start(cfg), effective(self, stage, cfg)
        if eff["weights"] != "suite":
            official, _ = use_official(eff["weights"], ASSETS, f"{self.name}/{stage}")
            if official:
                change.notes.append("official weights present (the real run would load them and train nothing); "
                                    "preflight trains the stage: weights: suite")
            change.config["weights"] = "suite"
        if "lpips" in eff["loss"] and eff["loss"]["lpips"] > 0 and eff["loss"]["lpips_weights"] == "official":
            reason = lpips_reason("vgg")
            if reason:
                set_key(change.config, "loss.lpips_weights", "random")
                change.random_weights = True
                change.notes.append(f"LPIPS-VGG training loss with random weights ({reason.split(';')[0]})")
        arch = eff["arch"] if stage == "vqgan" else None
        if arch and arch["img_size"] != size:
            # the same levels of the network at the smaller size: the fused resolutions scale with the image
            connect = [str(int(r) * size // arch["img_size"]) for r in arch["connect_list"]]
            set_key(change.config, "arch.img_size", size)
            set_key(change.config, "arch.connect_list", connect)
            change.notes.append(f"arch.img_size {arch['img_size']} -> {size}, connect_list {arch['connect_list']} "
                                f"-> {connect} (the preflight's size)")
        return change

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None) -> _Restorer:
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
        w = float({**self.sampling_defaults(), **(sampling or {})}["w"])
        if not 0.0 <= w <= 1.0:
            raise ConfigError(f"sampling.{self.name}.w: {w}", fix="the fidelity weight is in [0, 1]")
        return _Restorer(net, w, device)


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

    def plan(self, ctx: StageContext) -> NoTraining:
        cfg = ctx.config
        if cfg["uses"] != "codeformer" or not 0.0 <= float(cfg["w"]) <= 1.0:
            raise ConfigError(f"{self.name}/link: uses {cfg['uses']!r}, w {cfg['w']}",
                              fix="uses: codeformer, w in [0, 1]")
        used = ctx.models_dir.parent / cfg["uses"]
        hashes = models_sha256(used, cfg["uses"], CodeFormerMethod.stages)
        sources = {stage: read_card(used / stage).get("source", "?") for stage in CodeFormerMethod.stages}
        return NoTraining({"method": self.name, "stage": "link", "uses": cfg["uses"], "w": float(cfg["w"]),
                           "models_sha256": hashes, "source": f"no training: codeformer's models "
                           f"({sources['cft']}) with fidelity weight w={cfg['w']}"})

    def sampling_defaults(self) -> dict[str, Any]:
        return {}  # its w is the link's (experiments/codeformer/w1_link.yaml)

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None) -> _Restorer:
        card, used = verified_link(models_dir, self.name)
        return CodeFormerMethod().load(used, device, sampling={"w": float(card["w"])})
