"""The `degrade` stage: write an LQ set from HQ faces, with FLIPNET's degradation mode or the naive pipeline.

FLIPNET as a data source (the paper's use): every HQ face of a split gets `variants` synthetic LQ versions. The
naive counterpart degrades the same faces with a preset, so realism and downstream training compare like with like.
Output: OUT/lq/ and OUT/hq/ with identical stems `<face>_v<k>`, manifest.csv, meta.json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench.config import load_yaml, merge_known
from bfrbench.errors import ConfigError

DEGRADE_METHODS = ("flipnet", "naive")
DATA_DEFAULTS: dict[str, Any] = {
    "split": "train",  # HQ faces to degrade (a split of the prepared face set)
    "variants": 1,  # LQ versions per HQ face (the paper: 5)
    "limit": 0,  # 0 = every face of the split
    "batch_size": 8,
    "sampler_steps": 0,  # 0 = the steps the diffusion stage was configured with
    "naive": {"degradation": {"preset": "codeformer_stage2"}},
    "real_lq": "artifacts/faces/real_lq",  # the real LQ set(s) realism is measured against: a folder or name: folder
    "realism_metrics": ["frechet_dlib", "kid_dlib", "niqe", "piqe"],
}


def load_data_config(path: str) -> dict[str, Any]:
    return merge_known(DATA_DEFAULTS, load_yaml(path), str(path))


def degrade_faces(method: str, cfg: Mapping[str, Any], params: Mapping[str, Any], faces_dir: Path, models_dir: Path,
                  out: Path, overwrite: bool = False, progress: bool = True, device: str = "cpu") -> dict[str, Any]:
    import numpy as np
    from tqdm.auto import tqdm

    from bfrbench.data.faces import face_paths, read_face
    from bfrbench.io.atomic import atomic_dir
    from bfrbench.io.images import encode_png

    if method not in DEGRADE_METHODS:
        raise ConfigError(f"degrade --method {method!r}", fix=f"use one of {DEGRADE_METHODS}")
    size, seed = int(params["size"]), int(params["seed"])
    refs = face_paths(faces_dir, cfg["split"])
    refs = refs[: cfg["limit"]] if cfg["limit"] else refs
    if not refs:
        raise ConfigError(f"{faces_dir}: split {cfg['split']!r} is empty",
                          fix="prepare the faces, or pick another split")
    if method == "flipnet":
        from bfrbench.methods.flipnet.loading import load_flipnet

        runner = load_flipnet(Path(models_dir), device, (params.get("sampling") or {}).get("flipnet"),
                              sampler_steps=int(cfg["sampler_steps"]) or None)
        source = f"FLIPNET degradation mode ({Path(models_dir)}), DDIM {runner.sampler.steps} steps"
    else:
        from bfrbench.data.degradation import DegradationPipeline

        pipe = DegradationPipeline.from_config(cfg["naive"]["degradation"], seed=seed)
        source = f"naive pipeline, preset {pipe.preset.name} ({cfg['naive']['degradation']})"
    rows = []
    bs = int(cfg["batch_size"])
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "lq").mkdir()
        (tmp / "hq").mkdir()
        for k in range(int(cfg["variants"])):
            for start in tqdm(range(0, len(refs), bs), desc=f"degrade {method} v{k}", disable=not progress):
                chunk = refs[start : start + bs]
                names = [Path(str(r).split("::")[-1]).stem for r in chunk]
                hq = np.stack([read_face(r, size=size) for r in chunk])
                if method == "flipnet":
                    lq = runner.degrade(hq, variant=k)
                else:  # variant k of face i draws with index k * N + i: independent draws, reproducible
                    lq = np.stack([pipe(img, k * len(refs) + start + i)[0] for i, img in enumerate(hq)])
                for name, hq_face, lq_face in zip(names, hq, lq):
                    stem = f"{name}_v{k}"
                    (tmp / "lq" / f"{stem}.png").write_bytes(encode_png(lq_face))
                    (tmp / "hq" / f"{stem}.png").write_bytes(encode_png(hq_face))
                    rows.append(f"{stem},{name},{k}")
        (tmp / "manifest.csv").write_text("name,hq_face,variant\n" + "\n".join(rows) + "\n", encoding="utf-8")
        meta = {"method": method, "source": source, "split": cfg["split"], "variants": int(cfg["variants"]),
                "count": len(rows), "size": size, "seed": seed}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return meta
