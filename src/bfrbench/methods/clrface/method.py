"""`clrface`: CLR-Face (arXiv 2402.06106, IJCAI 2024) in three training stages, and its two ablation rows.

vqgan -> latent_prior (reads vqgan/) -> identity (reads vqgan/); restore reads all three. See docs/methods/clrface.md.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from bfrbench.config import merge_known
from bfrbench.errors import BFRBenchError, ConfigError
from bfrbench.methods.base import StageContext
from bfrbench.methods.clrface.config import SAMPLING, default_config
from bfrbench.methods.common import load_stage_blob
from bfrbench.methods.link import models_sha256, verified_link
from bfrbench.training.stage import NoTraining, TrainPlan

STAGES = ("vqgan", "latent_prior", "identity")


def load_vqgan(models_dir: Path):

    from bfrbench.methods.clrface.vqgan import VQGAN

    blob = load_stage_blob(models_dir, "vqgan", "clrface")
    vqgan = VQGAN(**blob["config"])
    vqgan.load_state_dict(blob["state_dict"], strict=True)
    return vqgan.eval().requires_grad_(False)


def load_prior(models_dir: Path, vqgan):

    from bfrbench.methods.clrface.score_net import ConditionalScoreNet, LatentScoreModel
    from bfrbench.methods.clrface.sde import make_sde

    blob = load_stage_blob(models_dir, "latent_prior", "clrface")
    model = LatentScoreModel(ConditionalScoreNet(vqgan.embed_dim, **blob["net"]), make_sde(blob["sde"]))
    model.load_state_dict(blob["state_dict"], strict=True)
    return model.eval().requires_grad_(False), float(blob["latent_scale"])


def latent_scale_of(vqgan, faces_dir: Path, size: int, count: int) -> float:
    """1 / std of the clean (quantized) latents of the first `count` HQ train faces: deterministic, DDP-safe."""
    import torch

    from bfrbench.data.faces import face_paths, read_face
    from bfrbench.data.tensors import to_tensor

    paths = face_paths(faces_dir, "train")[:count]
    if not paths:
        raise BFRBenchError(f"{faces_dir}: no train faces", fix="prepare the faces first (`dvc repro data`)")
    with torch.no_grad():
        z = torch.cat([vqgan.quantize(vqgan.encode(to_tensor(read_face(p, size=size))[None])) for p in paths])
    return float(1.0 / z.std().clamp_min(1e-6))


def preflight_sampling(self, block: dict[str, Any]):
    """bfrbench preflight: a 2-step restore (clrface and its ablation rows)."""
    from bfrbench.methods.preflight import fewer_steps

    return fewer_steps(block, SAMPLING, "steps")


class CLRFace:
    name = "clrface"
    stages = STAGES
    preflight_sampling = preflight_sampling

    def preflight_config(self, stage: str, cfg: dict[str, Any], size: int):
        """bfrbench preflight: the recogniser (perceptual loss, identity stage) with random weights when its
        registry file cannot be had."""
        from bfrbench.methods.clrface.face_id import RANDOM_RECOGNISER
        from bfrbench.methods.preflight import effective, start
        from bfrbench.nets.dlib_resnet import WEIGHTS_ENTRY
        from bfrbench.weights import weights_reason

        change, eff = start(cfg), effective(self, stage, cfg)
        uses = stage == "identity" or (stage == "vqgan" and eff["loss"]["perceptual_weight"] > 0)
        reason = weights_reason(WEIGHTS_ENTRY) if uses and eff["face_recognition"] == "dlib_resnet" else None
        if reason:
            change.config["face_recognition"] = RANDOM_RECOGNISER
            change.random_weights = True
            change.notes.append(f"dlib face recogniser with random weights ({reason.split(';')[0]})")
        return change

    def default_config(self, stage: str) -> dict[str, Any]:
        if stage not in self.stages:
            raise ConfigError(f"{self.name} has no stage {stage!r}", fix=f"its stages: {list(self.stages)}")
        return default_config(stage)

    def sampling_defaults(self) -> dict[str, Any]:
        return dict(SAMPLING)

    def plan(self, ctx: StageContext) -> TrainPlan:
        return getattr(self, f"_plan_{ctx.stage}")(ctx, ctx.config)

    def _plan_vqgan(self, ctx: StageContext, cfg: dict) -> TrainPlan:
        from bfrbench.methods.clrface.face_id import recognition_net
        from bfrbench.methods.clrface.vqgan_module import VQGANModule

        perceptual = recognition_net(cfg["face_recognition"]) if cfg["loss"]["perceptual_weight"] > 0 else None
        module = VQGANModule(cfg["model"], cfg["loss"], cfg["optim"], perceptual)
        return TrainPlan(module, lambda m: {"model.pt": {"config": cfg["model"], "state_dict": m.vqgan.state_dict()}},
                         describe=lambda m: {"batches": m.batches})

    def _plan_latent_prior(self, ctx: StageContext, cfg: dict) -> TrainPlan:
        from bfrbench.methods.clrface.prior_module import LatentPriorModule

        vqgan = load_vqgan(ctx.models_dir)
        scale = latent_scale_of(vqgan, ctx.faces_dir, ctx.size, int(cfg["latent_scale_faces"]))
        module = LatentPriorModule(vqgan, cfg["net"], cfg["sde"], cfg["optim"], scale, float(cfg["t_eps"]))

        def export(m) -> dict:
            return {"model.pt": {"net": cfg["net"], "sde": cfg["sde"], "latent_scale": scale,
                                 "state_dict": m.model.state_dict()}}

        return TrainPlan(module, export, card={"latent_scale": scale},
                         upstream=(ctx.models_dir / "vqgan" / "model.pt",))

    def _plan_identity(self, ctx: StageContext, cfg: dict) -> TrainPlan:
        import torch

        from bfrbench.methods.clrface.face_id import recognition_net
        from bfrbench.methods.clrface.identity_module import IdentityModule

        vqgan = load_vqgan(ctx.models_dir)
        latent_hw = (ctx.size // vqgan.downsample, ctx.size // vqgan.downsample)
        recogniser = recognition_net(cfg["face_recognition"])
        backbone = copy.deepcopy(recogniser)
        if cfg["irn_init"] == "scratch":
            from bfrbench.nets.dlib_resnet import DlibResNet

            torch.manual_seed(ctx.seed)
            backbone = DlibResNet()
        elif cfg["irn_init"] != "pretrained":
            raise ConfigError(f"identity.irn_init: {cfg['irn_init']!r}", fix="use pretrained or scratch")
        module = IdentityModule(vqgan, recogniser, backbone, latent_hw, cfg["loss"], cfg["optim"])

        def export(m) -> dict:
            return {"model.pt": {"irn_state_dict": m.irn.backbone.state_dict(), "mask_logits": m.mask.logits.detach(),
                                 "latent_hw": list(latent_hw), "face_recognition": cfg["face_recognition"],
                                 "seed": ctx.seed}}

        return TrainPlan(module, export, card={"seed": ctx.seed}, upstream=(ctx.models_dir / "vqgan" / "model.pt",))

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None):

        from bfrbench.methods.clrface.face_id import FaceIdentity, recognition_net
        from bfrbench.methods.clrface.irn import IdentityRecoveryNet, LatentMask
        from bfrbench.methods.clrface.restorer import CLRFaceRestorer
        from bfrbench.methods.clrface.sde import ReverseSampler, make_sde
        from bfrbench.nets.dlib_resnet import DlibResNet

        settings = merge_known(SAMPLING, sampling or {}, "sampling.clrface")
        if not 0 < float(settings["mask_fraction"]) <= 1:
            raise ConfigError(f"sampling.clrface.mask_fraction must be in (0, 1], got {settings['mask_fraction']}")
        ReverseSampler(make_sde({"kind": "vp", "beta_min": 0.1, "beta_max": 20}), int(settings["steps"]),
                       settings["method"], float(settings["t_eps"]), float(settings["t_start"]))  # checks the block
        models_dir = Path(models_dir)
        vqgan = load_vqgan(models_dir)
        prior, scale = load_prior(models_dir, vqgan)
        blob = load_stage_blob(models_dir, "identity", "clrface")
        backbone = DlibResNet()
        backbone.load_state_dict(blob["irn_state_dict"], strict=True)
        mask = LatentMask(*blob["mask_logits"].shape)
        mask.logits.data.copy_(blob["mask_logits"])
        hard = mask.hard(float(settings["mask_fraction"]))
        face_id = FaceIdentity(recognition_net(blob["face_recognition"]))
        return CLRFaceRestorer(vqgan, prior, scale, IdentityRecoveryNet(backbone).eval(), face_id, hard, settings,
                               int(blob["seed"]), device)


class CLRFaceVariant:
    """An ablation row: restores with clrface's trained models and different `sampling` settings (no training).

    Its one stage, `link`, records which models it uses (by sha256) so that DVC re-runs its restores whenever
    clrface's models change; `load` refuses a link whose models have changed since.
    """

    name = ""
    stages = ("link",)
    overrides: dict[str, Any] = {}
    preflight_sampling = preflight_sampling

    def default_config(self, stage: str) -> dict[str, Any]:
        if stage not in self.stages:
            raise ConfigError(f"{self.name} has no stage {stage!r}", fix="its only stage is `link`")
        return default_config("link")

    def sampling_defaults(self) -> dict[str, Any]:
        return dict(SAMPLING)

    def plan(self, ctx: StageContext) -> NoTraining:
        cfg = ctx.config
        merge_known(SAMPLING, cfg["overrides"], f"{self.name}/link.overrides")  # raises on an unknown key
        overrides = {**cfg["overrides"], **self.overrides}
        used = ctx.models_dir.parent / cfg["uses"]
        hashes = models_sha256(used, cfg["uses"], STAGES)
        return NoTraining({"method": self.name, "stage": "link", "uses": cfg["uses"], "models_sha256": hashes,
                           "sampling_overrides": overrides,
                           "source": f"no training: {cfg['uses']}'s models with sampling {json.dumps(overrides)}"})

    def load(self, models_dir: Path, device: str = "cpu", sampling: dict[str, Any] | None = None):
        """`sampling` is this row's block (params.yaml `sampling.<row>`, clrface's settings by default); the row's
        own overrides (the ablation) are applied on top of it."""
        card, used = verified_link(models_dir, self.name)
        return CLRFace().load(used, device, sampling={**(sampling or {}), **card["sampling_overrides"]})


class CLRFaceNoMask(CLRFaceVariant):
    """Guidance on EVERY latent feature (mask of ones): what the learnable mask adds."""

    name = "clrface_no_mask"
    overrides = {"mask_fraction": 1.0}


class CLRFaceNoGuidance(CLRFaceVariant):
    """No identity guidance at all: the latent diffusion prior alone."""

    name = "clrface_no_guidance"
    overrides = {"guidance_scale": 0.0}
