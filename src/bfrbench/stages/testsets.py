"""Test-set generation: `synthetic` (random draws from a preset with a fixed seed, CelebA-Test style),
`folder` (a pre-made paired set such as CelebA-Test, validated and copied), `real` (LQ only: LFW/WIDER/WebPhoto style).

Every set is a folder with `lq/` (and `hq/` when there is ground truth) holding identically named PNGs, a
`manifest.csv` (per-image parameters and sha256) and `meta.json` (what made it, for the report)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench.errors import ConfigError

KINDS = ("synthetic", "difface_grid", "folder", "real")
SPEC_KEYS = {
    "synthetic": {"kind", "source_split", "hq", "degradation", "limit", "seed", "description"},
    "difface_grid": {"kind", "source_split", "hq", "limit", "seed", "description"},
    "folder": {"kind", "lq", "hq", "limit", "description"},
    "real": {"kind", "source_split", "lq", "limit", "description"},
}


def validate_spec(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    where = f"testsets.{name}"
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind: {kind!r} is not a test-set kind", fix=f"use one of {KINDS}")
    unknown = sorted(set(spec) - SPEC_KEYS[kind])
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for kind {kind}", fix=f"valid: {sorted(SPEC_KEYS[kind])}")
    if kind in ("difface_grid", "synthetic") and "hq" in spec and "source_split" in spec:
        raise ConfigError(f"{where}: give either `hq` (a folder) or `source_split`, not both")
    if kind == "synthetic" and "degradation" not in spec:
        raise ConfigError(f"{where}: a synthetic test set needs `degradation` (a preset name or mapping)")
    if kind == "folder" and not ("lq" in spec and "hq" in spec):
        raise ConfigError(f"{where}: a folder test set needs `lq` and `hq` folders")
    if kind == "real" and not ("lq" in spec or "source_split" in spec):
        raise ConfigError(f"{where}: a real test set needs `lq` (a folder) or `source_split` (e.g. real_lq)")
    return dict(spec)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_manifest(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    fields = list(rows[0]) if rows else ["name"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def make_testset(name: str, spec: Mapping[str, Any], params: Mapping[str, Any], faces_dir: Path, out: Path,
                 overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from bfrbench.data.faces import face_paths, read_face
    from bfrbench.io.atomic import atomic_dir
    from bfrbench.io.images import encode_png, list_images, read_image

    spec = validate_spec(name, spec)
    size = int(params["size"])
    limit = int(spec.get("limit", 0) or 0)
    meta: dict[str, Any] = {"name": name, "kind": spec["kind"], "size": size,
                            "description": spec.get("description", "")}
    rows: list[dict[str, Any]] = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "lq").mkdir()
        if spec["kind"] == "synthetic":
            from bfrbench.data.degradation import DegradationPipeline

            seed = int(spec.get("seed", params["seed"]))
            pipeline = DegradationPipeline.from_config(spec["degradation"], seed=seed)
            if "hq" in spec:
                split = str(spec["hq"])
                paths = list_images(spec["hq"])
            else:
                split = spec.get("source_split", "test")
                paths = face_paths(faces_dir, split)
            paths = paths[:limit] if limit else paths
            (tmp / "hq").mkdir()
            for i, path in enumerate(tqdm(paths, desc=f"testset {name}", disable=not progress)):
                hq = read_face(path, size=size)
                lq, p = pipeline(hq, i)
                lq_png, hq_png = encode_png(lq), encode_png(hq)
                (tmp / "lq" / f"{path.stem}.png").write_bytes(lq_png)
                (tmp / "hq" / f"{path.stem}.png").write_bytes(hq_png)
                rows.append({"name": path.stem, "index": i, "lq_sha256": _sha256(lq_png), "hq_sha256": _sha256(hq_png),
                             "params": json.dumps(p.to_dict(), sort_keys=True)})
            meta.update({"has_gt": True, "seed": seed, "source_split": split, "preset": pipeline.preset.name,
                         "degradation": spec["degradation"], "preset_source": pipeline.preset.source})
        elif spec["kind"] == "difface_grid":
            rows = _difface_grid(spec, faces_dir, tmp, size, limit, progress, name)
            meta.update({"has_gt": True, "seed": int(spec.get("seed", 10000)), "preset": "difface_grid",
                         "preset_source": "DifFace journal test grid (make_testing_data.py), replayed exactly",
                         "source_split": spec.get("source_split", spec.get("hq"))})
        elif spec["kind"] == "folder":
            from bfrbench.io.pairing import pair_by_stem

            (tmp / "hq").mkdir()
            pairs = pair_by_stem(spec["lq"], spec["hq"])
            pairs = pairs[:limit] if limit else pairs
            for stem, lq_path, hq_path in tqdm(pairs, desc=f"testset {name}", disable=not progress):
                lq_png, hq_png = encode_png(read_image(lq_path, size=size)), encode_png(read_image(hq_path, size=size))
                (tmp / "lq" / f"{stem}.png").write_bytes(lq_png)
                (tmp / "hq" / f"{stem}.png").write_bytes(hq_png)
                rows.append({"name": stem, "lq_source": str(lq_path), "hq_source": str(hq_path),
                             "lq_sha256": _sha256(lq_png), "hq_sha256": _sha256(hq_png)})
            meta.update({"has_gt": True, "lq": str(spec["lq"]), "hq": str(spec["hq"])})
        else:
            if "lq" in spec:
                paths = list_images(spec["lq"])
                source = str(spec["lq"])
            else:
                paths = face_paths(faces_dir, spec["source_split"])
                source = f"{faces_dir} split {spec['source_split']}"
            paths = paths[:limit] if limit else paths
            for path in tqdm(paths, desc=f"testset {name}", disable=not progress):
                lq_png = encode_png(read_face(path, size=size))
                (tmp / "lq" / f"{path.stem}.png").write_bytes(lq_png)
                rows.append({"name": path.stem, "lq_source": str(path), "lq_sha256": _sha256(lq_png)})
            meta.update({"has_gt": False, "source": source})
        if not rows:
            raise ConfigError(f"testsets.{name}: no images found", fix="check the source folder or split")
        meta["count"] = len(rows)
        _write_manifest(tmp / "manifest.csv", rows)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return meta


def _difface_grid(spec, faces_dir, tmp: Path, size: int, limit: int, progress: bool, name: str) -> list[dict]:
    import numpy as np
    from tqdm.auto import tqdm

    from bfrbench.data.degradation import apply_degradation
    from bfrbench.data.difface_grid import GRID_SIZE, grid_noise, grid_points
    from bfrbench.data.faces import face_paths, read_face
    from bfrbench.io.images import encode_png, list_images

    # DifFace takes the HQ files in sorted order, PNG only.
    if "hq" in spec:
        paths = [p for p in list_images(spec["hq"]) if p.suffix.lower() == ".png"]
    else:
        paths = face_paths(faces_dir, spec.get("source_split", "test"))
    count = min(len(paths), limit or GRID_SIZE, GRID_SIZE)
    if count == 0:
        raise ConfigError(f"testsets.{name}: no HQ images found for the DifFace grid")
    seed = int(spec.get("seed", 10000))
    points = grid_points(seed, count)
    (tmp / "hq").mkdir()
    rows = []
    noises = grid_noise(points, size, size, seed)
    for point, path, noise in tqdm(zip(points, paths, noises), total=count, desc=f"testset {name}",
                                   disable=not progress):
        hq = read_face(path, size=size)
        # DifFace works in BGR: its noise array's channel 0 lands on blue, so flip it for our RGB images.
        lq = apply_degradation(hq, point.params(), noise=np.ascontiguousarray(noise[:, :, ::-1]))
        lq_png, hq_png = encode_png(lq), encode_png(hq)
        (tmp / "lq" / f"{path.stem}.png").write_bytes(lq_png)
        (tmp / "hq" / f"{path.stem}.png").write_bytes(hq_png)
        rows.append({"name": path.stem, "index": point.index, "jpeg_quality": point.jpeg_quality,
                     "scale": point.scale, "noise": point.noise, "sigma_x": point.sigma_x, "sigma_y": point.sigma_y,
                     "theta": point.theta, "lq_sha256": _sha256(lq_png), "hq_sha256": _sha256(hq_png)})
    return rows


def read_meta(testset_dir: Path) -> dict[str, Any]:
    path = Path(testset_dir) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else {}
