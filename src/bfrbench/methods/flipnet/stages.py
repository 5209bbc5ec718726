"""FLIPNET's three training stages: embed_ae -> embed_align -> diffusion (each reads the previous one's output)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bfrbench.errors import ConfigError
from bfrbench.methods.base import StageContext
from bfrbench.methods.common import load_stage_blob, trained_file
from bfrbench.training.stage import TrainPlan, stage_datamodule

EMBED_AE_FILE = "embedding_ae.pt"
EMBEDDING_FILE = "embedding.pt"
DIFFUSION_FILE = "flipnet.pt"
BACKBONE_FILE = "backbone.pt"


def plan_embed_ae(ctx: StageContext, cfg: dict[str, Any]) -> TrainPlan:
    from bfrbench.methods.flipnet.embedding_module import EmbedAEModule

    module = EmbedAEModule(cfg["model"], cfg["loss"], cfg["perceptual"], cfg["optim"], ctx.seed, cfg["resolution"])

    def export(m) -> dict:
        return {EMBED_AE_FILE: {"config": {**cfg["model"], "resolution": cfg["resolution"]},
                                "encoders": {d: m.ae[d].encoder.state_dict() for d in ("hq", "lq")},
                                "decoders": {d: m.ae[d].decoder.state_dict() for d in ("hq", "lq")}}}

    return TrainPlan(module, export, card={"source": "trained by the suite (FLIPNET stage I: HQ/LQ autoencoders, "
                                                     f"perceptual features: VGG16 {cfg['perceptual']['weights']})"})


def plan_embed_align(ctx: StageContext, cfg: dict[str, Any]) -> TrainPlan:
    import torch

    from bfrbench.methods.flipnet.embedding_module import EmbedAlignModule

    ae_file = trained_file(ctx.models_dir / "embed_ae" / EMBED_AE_FILE, "flipnet", "embed_ae")
    blob = torch.load(ae_file, map_location="cpu", weights_only=True)
    model_cfg = {"channels": blob["config"]["channels"], "dim": blob["config"]["dim"], **cfg["model"]}
    module = EmbedAlignModule(model_cfg, cfg["optim"], blob["config"]["resolution"], blob["encoders"])

    def export(m) -> dict:
        return {EMBEDDING_FILE: {"config": {**model_cfg, "resolution": blob["config"]["resolution"]},
                                 "state_dict": m.embedding.state_dict()}}

    return TrainPlan(module, export, upstream=(ae_file,),
                     card={"source": "trained by the suite (FLIPNET stage II: patch-wise HQ/LQ alignment, "
                                     "cross-entropy on the N x N diagonal)"})


def load_embedding(models_dir: Path):

    from bfrbench.methods.flipnet.embedding import FaceEmbedding

    blob = load_stage_blob(models_dir, "embed_align", "flipnet", EMBEDDING_FILE)
    c = blob["config"]
    emb = FaceEmbedding(c["channels"], c["dim"], c["proj_dim"])
    emb.load_state_dict(blob["state_dict"])
    return emb.eval(), int(c["resolution"])


def check_degradation_data(cfg: dict[str, Any]) -> None:
    """Which data trains the Degradation mode: naive pairs (`loss.p_degrade`) or real pairs (`data.real_pairs`, then
    `p_degrade` null and optionally `p_naive_in_degrade`); a setting the chosen one would not read is an error."""
    real, loss = cfg["data"].get("real_pairs"), cfg["loss"]
    p, q = loss["p_degrade"], loss.get("p_naive_in_degrade")
    if real:
        missing = [str(s.get("root")) for s in real if isinstance(s, dict) and not Path(str(s.get("root"))).is_dir()]
        if missing:  # before any network is built: every absent folder at once
            raise ConfigError(f"flipnet/diffusion: data.real_pairs: {len(missing)} folder(s) missing: "
                              f"{', '.join(missing)}",
                              fix="download them (docs/datasets.md, real degradation pairs), or run `bfrbench "
                                  "preflight`, which stands in for absent sets")
        if p is not None:
            raise ConfigError("flipnet/diffusion: loss.p_degrade is set together with data.real_pairs",
                              fix="with real pairs the real-pair batch trains the Degradation mode (its share is "
                                  "data.real_pairs_batch_size of the step): set loss.p_degrade: null")
        if q is not None and not 0.0 <= float(q) <= 1.0:
            raise ConfigError(f"flipnet/diffusion: loss.p_naive_in_degrade {q}", fix="a probability in [0, 1]")
        return
    if q is not None:
        raise ConfigError("flipnet/diffusion: loss.p_naive_in_degrade without data.real_pairs",
                          fix="it is the share of naive faces in Degradation mode beside real pairs; with naive "
                              "pairs only, loss.p_degrade sets the share")
    if p is None or not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"flipnet/diffusion: loss.p_degrade {p!r} with naive pairs only",
                          fix="a probability in [0, 1] (the paper profile mixes the modes 50/50: 0.5), or set "
                              "data.real_pairs")


def plan_diffusion(ctx: StageContext, cfg: dict[str, Any]) -> TrainPlan:
    from bfrbench.methods.flipnet.backbone import build_backbone
    from bfrbench.methods.flipnet.diffusion_module import FlipNetDiffusionModule
    from bfrbench.methods.flipnet.embedding_module import build_perceptual
    from bfrbench.methods.flipnet.model import FlipNet

    check_degradation_data(cfg)
    bb = cfg["backbone"]
    if bb["source"] != "config" and (bb["vae_fit"]["steps"] or bb["unet_fit"]["steps"]):
        raise ConfigError("flipnet/diffusion: backbone.vae_fit / unet_fit are only for source: config",
                          fix="a pretrained UNet/VAE stays as it is; set vae_fit.steps and unet_fit.steps to 0")
    embedding, resolution = load_embedding(ctx.models_dir)
    unet, vae, schedule, source = build_backbone(bb, ctx.seed)
    vae_report = {}
    if bb["vae_fit"]["steps"] or bb["unet_fit"]["steps"]:
        # The smoke stand-in for SD's pretraining fits the random VAE/UNet before the Lightning stage (seeded, so it
        # is part of the stage's bytes); it reads the same data as the stage.
        dm = stage_datamodule(ctx)
        if bb["vae_fit"]["steps"]:
            from bfrbench.methods.flipnet.vae_fit import fit_vae

            vae_report = fit_vae(vae, dm, bb["vae_fit"], ctx.seed, resolution)
        if bb["unet_fit"]["steps"]:
            from bfrbench.methods.flipnet.prior_fit import calibrate_latent_scale, fit_unet_prior

            dm.setup("fit")
            calibrate_latent_scale(vae, dm, resolution, ctx.seed)
            vae_report["unet_prior_fit"] = fit_unet_prior(unet, vae, dm, bb["unet_fit"], schedule, ctx.seed,
                                                          resolution)
    # The frozen stand-in backbone, saved under its plain (pre-LoRA) key names; a pretrained one is loaded by name.
    # References, not copies: the backbone is frozen, so its tensors are the same after training.
    backbone_state = {"unet": unet.state_dict(), "vae": vae.state_dict()} if bb["source"] == "config" else None
    model = FlipNet(unet, vae, embedding, resolution, cfg["lora"], cfg["boosthub"]["phi"], cfg["adapter"]["hidden"])
    perceptual = build_perceptual(cfg["perceptual"], ctx.seed) if cfg["loss"]["x0_perceptual"] > 0 else None
    module = FlipNetDiffusionModule(model, schedule, cfg["loss"], cfg["optim"], perceptual)

    def export(m) -> dict:
        files = {DIFFUSION_FILE: {"backbone": bb, "schedule": schedule, "lora": cfg["lora"],
                                  "boosthub": cfg["boosthub"], "adapter": cfg["adapter"], "seed": ctx.seed,
                                  "resolution": resolution,
                                  "vae_scaling_factor": float(m.model.vae.config.scaling_factor),
                                  "trainable": m.model.trainable_state()}}
        if backbone_state is not None:
            files[BACKBONE_FILE] = backbone_state
        return files

    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    card = {"source": f"trained by the suite (FLIPNET diffusion stage on {source}; LoRA rank {cfg['lora']['rank']}, "
                      f"BoostHub on {len(model.boosthub_layers)} self-attention layers)",
            "trainable_parameters": n_train, "all_parameters": n_all, "vae_fit": vae_report}
    return TrainPlan(module, export, card=card, upstream=(ctx.models_dir / "embed_align" / EMBEDDING_FILE,))
