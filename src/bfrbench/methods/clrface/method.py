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
from bfrbench.methods.base import StageContext, write_card
from bfrbench.methods.clrface.config import default_config
from bfrbench.methods.link import models_sha256, verified_link
from bfrbench.methods.unet_l1 import config_hash, trained_steps

STAGES = ("vqgan", "latent_prior", "identity")


def _require(path: Path, stage: str, method: str = "clrface") -> Path:
    if not path.is_file():
        raise BFRBenchError(f"{path}: CLR-Face stage `{stage}` has not been trained",
                            fix=f"run `dvc repro train@{method}-{stage}` (or `bfrbench train {method} {stage} ...`)")
    return path


def load_vqgan(models_dir: Path):
    import torch

    from bfrbench.methods.clrface.vqgan import VQGAN

    blob = torch.load(_require(Path(models_dir) / "vqgan" / "model.pt", "vqgan"), map_location="cpu",
                      weights_only=True)
    vqgan = VQGAN(**blob["config"])
    vqgan.load_state_dict(blob["state_dict"], strict=True)
    return vqgan.eval().requires_grad_(False)


def load_prior(models_dir: Path, vqgan):
    import torch

    from bfrbench.methods.clrface.score_net import ConditionalScoreNet, LatentScoreModel
    from bfrbench.methods.clrface.sde import make_sde

    blob = torch.load(_require(Path(models_dir) / "latent_prior" / "model.pt", "latent_prior"), map_location="cpu",
                      weights_only=True)
    model = LatentScoreModel(ConditionalScoreNet(vqgan.embed_dim, **blob["net"]), make_sde(blob["sde"]))
    model.load_state_dict(blob["state_dict"], strict=True)
    return model.eval().requires_grad_(False), float(blob["latent_scale"])


def _datamodule(ctx: StageContext, data: dict[str, Any]):
    from bfrbench.data.datamodule import BFRDataModule

    return BFRDataModule(ctx.faces_dir, ctx.size, data["degradation"], ctx.seed, data["batch_size"],
                         data["num_workers"], data["val_count"], data["flip"], data["worker_start"],
                         fast_blur=data["fast_blur"])


def _fit(module, ctx: StageContext, cfg: dict[str, Any], method: str, hashed: dict[str, Any]):
    from bfrbench.training.trainer import fit, trainer_config

    tcfg = trainer_config(cfg["trainer"], f"{method}/{ctx.stage}.trainer")
    # Interrupted runs resume from a work folder keyed by the config, outside the DVC output.
    work = ctx.extras.get("work_root", Path("checkpoints")) / method / ctx.stage / config_hash(
        hashed, {"seed": ctx.seed, "size": ctx.size, "faces": str(ctx.faces_dir)})
    trainer = fit(module, _datamodule(ctx, cfg["data"]), tcfg, work, run=ctx.logger, progress=ctx.progress)
    return trainer, trained_steps(trainer, work / "checkpoints")


def _finish(ctx: StageContext, method: str, cfg: dict, trainer, steps: int, blob: dict, extra: dict | None = None):
    import torch

    from bfrbench.io.atomic import atomic_path

    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(ctx.out_dir / "model.pt") as tmp:
        torch.save(blob, tmp)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    write_card(ctx.out_dir, {"method": method, "stage": ctx.stage, "source": "trained by the suite", "config": cfg,
                             "steps": steps, "final_metrics": metrics, **(extra or {})})
    return metrics


def latent_scale_of(vqgan, faces_dir: Path, size: int, count: int) -> float:
    """1 / std of the clean (quantized) latents of the first `count` HQ train faces: deterministic, DDP-safe."""
    import torch

    from bfrbench.data.tensors import to_tensor
    from bfrbench.data.faces import face_paths, read_face

    paths = face_paths(faces_dir, "train")[:count]
    if not paths:
        raise BFRBenchError(f"{faces_dir}: no train faces", fix="prepare the faces first (`dvc repro data`)")
    with torch.no_grad():
        z = torch.cat([vqgan.quantize(vqgan.encode(to_tensor(read_face(p, size=size))[None])) for p in paths])
    return float(1.0 / z.std().clamp_min(1e-6))


class CLRFace:
    name = "clrface"
    stages = STAGES
    sampling_overrides: dict[str, Any] = {}

    def default_config(self, stage: str) -> dict[str, Any]:
        if stage not in self.stages:
            raise ConfigError(f"{self.name} has no stage {stage!r}", fix=f"its stages: {list(self.stages)}")
        return default_config(stage)

    def train(self, ctx: StageContext) -> dict[str, Any]:
        cfg = merge_known(self.default_config(ctx.stage), ctx.config, f"{self.name}/{ctx.stage}")
        return getattr(self, f"_train_{ctx.stage}")(ctx, cfg)

    def _train_vqgan(self, ctx: StageContext, cfg: dict) -> dict[str, Any]:
        from bfrbench.methods.clrface.face_id import recognition_net
        from bfrbench.methods.clrface.vqgan_module import VQGANModule

        perceptual = recognition_net(cfg["face_recognition"]) if cfg["loss"]["perceptual_weight"] > 0 else None
        module = VQGANModule(cfg["model"], cfg["loss"], cfg["optim"], perceptual)
        trainer, steps = _fit(module, ctx, cfg, self.name, cfg)
        if trainer.global_rank != 0:
            return {}
        blob = {"config": cfg["model"], "state_dict": module.vqgan.state_dict()}
        return _finish(ctx, self.name, cfg, trainer, steps, blob, {"batches": module.batches})

    def _train_latent_prior(self, ctx: StageContext, cfg: dict) -> dict[str, Any]:
        from bfrbench.methods.clrface.prior_module import LatentPriorModule

        vqgan = load_vqgan(ctx.models_dir)
        scale = latent_scale_of(vqgan, ctx.faces_dir, ctx.size, int(cfg["latent_scale_faces"]))
        module = LatentPriorModule(vqgan, cfg["net"], cfg["sde"], cfg["optim"], scale, float(cfg["t_eps"]))
        trainer, steps = _fit(module, ctx, cfg, self.name, {**cfg, "vqgan": _card_hash(ctx.models_dir / "vqgan")})
        if trainer.global_rank != 0:
            return {}
        blob = {"net": cfg["net"], "sde": cfg["sde"], "latent_scale": scale,
                "state_dict": module.model.state_dict()}
        return _finish(ctx, self.name, cfg, trainer, steps, blob, {"latent_scale": scale})

    def _train_identity(self, ctx: StageContext, cfg: dict) -> dict[str, Any]:
        import torch

        from bfrbench.methods.clrface.face_id import recognition_net
        from bfrbench.methods.clrface.identity_module import IdentityModule
        from bfrbench.methods.clrface.sde import ReverseSampler, make_sde

        # Check the sampling block now, not at restore time.
        s = cfg["sampling"]
        ReverseSampler(make_sde({"kind": "vp", "beta_min": 0.1, "beta_max": 20}), int(s["steps"]), s["method"],
                       float(s["t_eps"]), float(s["t_start"]))
        if not 0 < float(s["mask_fraction"]) <= 1:
            raise ConfigError(f"identity.sampling.mask_fraction must be in (0, 1], got {s['mask_fraction']}")
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
        hashed = {k: v for k, v in cfg.items() if k != "sampling"}
        trainer, steps = _fit(module, ctx, cfg, self.name, {**hashed, "vqgan": _card_hash(ctx.models_dir / "vqgan")})
        if trainer.global_rank != 0:
            return {}
        mask = module.mask.hard(float(s["mask_fraction"]))
        blob = {"irn_state_dict": module.irn.backbone.state_dict(), "mask_logits": module.mask.logits.detach(),
                "latent_hw": list(latent_hw), "face_recognition": cfg["face_recognition"], "sampling": s,
                "seed": ctx.seed}
        return _finish(ctx, self.name, cfg, trainer, steps, blob,
                       {"mask_selected_fraction": float(mask.mean()), "seed": ctx.seed})

    def load(self, models_dir: Path, device: str = "cpu", sampling_overrides: dict[str, Any] | None = None):
        import torch

        from bfrbench.methods.clrface.face_id import FaceIdentity, recognition_net
        from bfrbench.methods.clrface.irn import IdentityRecoveryNet, LatentMask
        from bfrbench.methods.clrface.restorer import CLRFaceRestorer
        from bfrbench.nets.dlib_resnet import DlibResNet

        models_dir = Path(models_dir)
        vqgan = load_vqgan(models_dir)
        prior, scale = load_prior(models_dir, vqgan)
        blob = torch.load(_require(models_dir / "identity" / "model.pt", "identity"), map_location="cpu",
                          weights_only=True)
        sampling = {**blob["sampling"], **(sampling_overrides or {})}
        backbone = DlibResNet()
        backbone.load_state_dict(blob["irn_state_dict"], strict=True)
        mask = LatentMask(*blob["mask_logits"].shape)
        mask.logits.data.copy_(blob["mask_logits"])
        hard = mask.hard(float(sampling["mask_fraction"]))
        face_id = FaceIdentity(recognition_net(blob["face_recognition"]))
        return CLRFaceRestorer(vqgan, prior, scale, IdentityRecoveryNet(backbone).eval(), face_id, hard, sampling,
                               int(blob["seed"]), device)


def _card_hash(stage_dir: Path) -> str:
    """What an earlier stage produced, for the resume key: a retrained VQGAN must not resume an old prior."""
    from bfrbench.assets import sha256_file

    return sha256_file(_require(stage_dir / "model.pt", stage_dir.name))


class CLRFaceVariant:
    """An ablation row: restores with clrface's trained models and different `sampling` settings (no training).

    Its one stage, `link`, records which models it uses (by sha256) so that DVC re-runs its restores whenever
    clrface's models change; `load` refuses a link whose models have changed since.
    """

    name = ""
    stages = ("link",)
    overrides: dict[str, Any] = {}

    def default_config(self, stage: str) -> dict[str, Any]:
        if stage not in self.stages:
            raise ConfigError(f"{self.name} has no stage {stage!r}", fix="its only stage is `link`")
        return default_config("link")

    def _check_overrides(self, overrides: dict[str, Any], where: str) -> dict[str, Any]:
        merge_known(default_config("identity")["sampling"], overrides, where)  # raises on an unknown key
        return dict(overrides)

    def train(self, ctx: StageContext) -> dict[str, Any]:
        cfg = merge_known(self.default_config("link"), ctx.config, f"{self.name}/link")
        overrides = {**self._check_overrides(cfg["sampling"], f"{self.name}/link.sampling"), **self.overrides}
        used = ctx.models_dir.parent / cfg["uses"]
        hashes = models_sha256(used, cfg["uses"], STAGES)
        write_card(ctx.out_dir, {"method": self.name, "stage": "link", "uses": cfg["uses"], "models_sha256": hashes,
                                 "sampling_overrides": overrides,
                                 "source": f"no training: {cfg['uses']}'s models with sampling {json.dumps(overrides)}"})
        return {}

    def load(self, models_dir: Path, device: str = "cpu"):
        card, used = verified_link(models_dir, self.name)
        return CLRFace().load(used, device, sampling_overrides=card["sampling_overrides"])


class CLRFaceNoMask(CLRFaceVariant):
    """Guidance on EVERY latent feature (mask of ones): what the learnable mask adds."""

    name = "clrface_no_mask"
    overrides = {"mask_fraction": 1.0}


class CLRFaceNoGuidance(CLRFaceVariant):
    """No identity guidance at all: the latent diffusion prior alone."""

    name = "clrface_no_guidance"
    overrides = {"guidance_scale": 0.0}
