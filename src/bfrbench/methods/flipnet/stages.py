"""FLIPNET's three training stages: embed_ae -> embed_align -> diffusion (each reads the previous one's output)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bfrbench.errors import BFRBenchError, ConfigError
from bfrbench.methods.base import StageContext, write_card

EMBED_AE_FILE = "embedding_ae.pt"
EMBEDDING_FILE = "embedding.pt"
DIFFUSION_FILE = "flipnet.pt"
BACKBONE_FILE = "backbone.pt"


def _datamodule(ctx: StageContext, data: dict[str, Any]):
    from bfrbench.data.datamodule import BFRDataModule

    return BFRDataModule(ctx.faces_dir, ctx.size, data["degradation"], ctx.seed, data["batch_size"],
                         data["num_workers"], data["val_count"], data["flip"], data["worker_start"],
                         fast_blur=data["fast_blur"])


def _fit(ctx: StageContext, module, dm, cfg: dict[str, Any], name: str, upstream: tuple[Path, ...] = ()):
    """Fit with resume; the work folder is keyed by the config AND the bytes of the earlier stages' weights, so a
    retrained upstream stage never resumes a checkpoint made on top of the old one."""
    from bfrbench.assets import sha256_file
    from bfrbench.methods.unet_l1 import config_hash
    from bfrbench.training.trainer import fit, trainer_config

    tcfg = trainer_config(cfg["trainer"], f"flipnet/{ctx.stage}.trainer")
    work = ctx.extras.get("work_root", Path("checkpoints")) / name / ctx.stage / config_hash(
        cfg, {"seed": ctx.seed, "size": ctx.size, "faces": str(ctx.faces_dir),
              "upstream": [sha256_file(p) for p in upstream]})
    return fit(module, dm, tcfg, work, run=ctx.logger, progress=ctx.progress), work


def _need(path: Path, stage: str) -> Path:
    if not path.is_file():
        raise BFRBenchError(f"{path}: flipnet stage {stage!r} has not been trained",
                            fix=f"run `dvc repro train@flipnet-{stage}` (or `bfrbench train flipnet {stage} ...`)")
    return path


def _finish(ctx: StageContext, trainer, work: Path, cfg: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    from bfrbench.methods.unet_l1 import trained_steps

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    write_card(ctx.out_dir, {"method": "flipnet", "stage": ctx.stage, "config": cfg, "final_metrics": metrics,
                             "steps": trained_steps(trainer, work / "checkpoints"), **extra})
    return metrics


def train_embed_ae(ctx: StageContext, cfg: dict[str, Any]) -> dict[str, Any]:
    import torch

    from bfrbench.methods.flipnet.embedding_module import EmbedAEModule

    dm = _datamodule(ctx, cfg["data"])
    module = EmbedAEModule(cfg["model"], cfg["loss"], cfg["perceptual"], cfg["optim"], ctx.seed, cfg["resolution"])
    trainer, work = _fit(ctx, module, dm, cfg, "flipnet")
    if trainer.global_rank != 0:
        return {}
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    state = {d: module.ae[d].encoder.state_dict() for d in ("hq", "lq")}
    decoders = {d: module.ae[d].decoder.state_dict() for d in ("hq", "lq")}
    torch.save({"config": {**cfg["model"], "resolution": cfg["resolution"]}, "encoders": state, "decoders": decoders},
               ctx.out_dir / EMBED_AE_FILE)
    return _finish(ctx, trainer, work, cfg, {"source": "trained by the suite (FLIPNET stage I: HQ/LQ autoencoders, "
                                                       f"perceptual features: VGG16 {cfg['perceptual']['weights']})"})


def train_embed_align(ctx: StageContext, cfg: dict[str, Any]) -> dict[str, Any]:
    import torch

    from bfrbench.methods.flipnet.embedding_module import EmbedAlignModule

    blob = torch.load(_need(ctx.models_dir / "embed_ae" / EMBED_AE_FILE, "embed_ae"), map_location="cpu",
                      weights_only=True)
    model_cfg = {"channels": blob["config"]["channels"], "dim": blob["config"]["dim"], **cfg["model"]}
    dm = _datamodule(ctx, cfg["data"])
    module = EmbedAlignModule(model_cfg, cfg["optim"], blob["config"]["resolution"], blob["encoders"])
    trainer, work = _fit(ctx, module, dm, cfg, "flipnet", (ctx.models_dir / "embed_ae" / EMBED_AE_FILE,))
    if trainer.global_rank != 0:
        return {}
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"config": {**model_cfg, "resolution": blob["config"]["resolution"]},
                "state_dict": module.embedding.state_dict()}, ctx.out_dir / EMBEDDING_FILE)
    return _finish(ctx, trainer, work, cfg, {"source": "trained by the suite (FLIPNET stage II: patch-wise HQ/LQ "
                                                       "alignment, cross-entropy on the N x N diagonal)"})


def load_embedding(models_dir: Path):
    import torch

    from bfrbench.methods.flipnet.embedding import FaceEmbedding

    blob = torch.load(_need(models_dir / "embed_align" / EMBEDDING_FILE, "embed_align"), map_location="cpu",
                      weights_only=True)
    c = blob["config"]
    emb = FaceEmbedding(c["channels"], c["dim"], c["proj_dim"])
    emb.load_state_dict(blob["state_dict"])
    return emb.eval(), int(c["resolution"])


def train_diffusion(ctx: StageContext, cfg: dict[str, Any]) -> dict[str, Any]:
    import torch

    from bfrbench.methods.flipnet.backbone import build_backbone
    from bfrbench.methods.flipnet.diffusion_module import FlipNetDiffusionModule
    from bfrbench.methods.flipnet.embedding_module import build_perceptual
    from bfrbench.methods.flipnet.model import FlipNet

    bb = cfg["backbone"]
    if bb["source"] != "config" and (bb["vae_fit"]["steps"] or bb["unet_fit"]["steps"]):
        raise ConfigError("flipnet/diffusion: backbone.vae_fit / unet_fit are only for source: config",
                          fix="a pretrained UNet/VAE stays as it is; set vae_fit.steps and unet_fit.steps to 0")
    embedding, resolution = load_embedding(ctx.models_dir)
    unet, vae, schedule, source = build_backbone(bb, ctx.seed)
    dm = _datamodule(ctx, cfg["data"])
    vae_report = {}
    if bb["vae_fit"]["steps"]:
        from bfrbench.methods.flipnet.vae_fit import fit_vae

        vae_report = fit_vae(vae, dm, bb["vae_fit"], ctx.seed, resolution)
    if bb["unet_fit"]["steps"]:
        from bfrbench.methods.flipnet.prior_fit import (
            calibrate_latent_scale,
            fit_unet_prior,
        )

        dm.setup("fit")
        calibrate_latent_scale(vae, dm, resolution, ctx.seed)
        vae_report["unet_prior_fit"] = fit_unet_prior(unet, vae, dm, bb["unet_fit"], schedule, ctx.seed, resolution)
    backbone_state = ({"unet": unet.state_dict(), "vae": vae.state_dict()} if bb["source"] == "config" else None)
    model = FlipNet(unet, vae, embedding, resolution, cfg["lora"], cfg["boosthub"]["phi"], cfg["adapter"]["hidden"])
    perceptual = build_perceptual(cfg["perceptual"], ctx.seed) if cfg["loss"]["x0_perceptual"] > 0 else None
    module = FlipNetDiffusionModule(model, schedule, cfg["loss"], cfg["optim"], perceptual)
    trainer, work = _fit(ctx, module, dm, cfg, "flipnet", (ctx.models_dir / "embed_align" / EMBEDDING_FILE,))
    if trainer.global_rank != 0:
        return {}
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    if backbone_state is not None:
        torch.save(backbone_state, ctx.out_dir / BACKBONE_FILE)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    torch.save({"backbone": bb, "schedule": schedule, "lora": cfg["lora"], "boosthub": cfg["boosthub"],
                "adapter": cfg["adapter"], "sampler": cfg["sampler"], "seed": ctx.seed, "resolution": resolution,
                "vae_scaling_factor": float(vae.config.scaling_factor), "trainable": model.trainable_state()}, ctx.out_dir / DIFFUSION_FILE)
    return _finish(ctx, trainer, work, cfg, {
        "source": f"trained by the suite (FLIPNET diffusion stage on {source}; LoRA rank {cfg['lora']['rank']}, "
                  f"BoostHub on {len(model.boosthub_layers)} self-attention layers)",
        "trainable_parameters": n_train, "all_parameters": n_all, "vae_fit": vae_report})
