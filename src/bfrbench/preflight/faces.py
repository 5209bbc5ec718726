"""The faces a preflight trains on (OUT/artifacts/faces) and the small LQ set its restores read.

Without `--data`, the paper's data sets are usually not on the machine yet: the smoke faces (real aligned faces from
registry packages; the repository's artifacts/faces when it holds them, else built with `bfrbench data prepare`
under the smoke profile) are resized to the profile's size, and the table says so. A preflight measures memory and
time, which depend on the size and the batch, not on which faces they are.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench.errors import BFRBenchError

MAX_PER_SPLIT = 512  # enough for every stage's first steps (CLR-Face's latent scale reads 256 train faces)
MARKER = "preflight_faces.json"


def _resize(img, size: int):
    import cv2

    if img.shape[0] == size and img.shape[1] == size:
        return img
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(img, (size, size), interpolation=interp)


def resize_face_set(src: Path, dst: Path, size: int) -> dict[str, int]:
    """A copy of the prepared face set `src` at `size` px (a manifest with name, split, identity; at most
    MAX_PER_SPLIT faces per split)."""
    from bfrbench.data.faces import read_face, read_manifest
    from bfrbench.io.atomic import atomic_dir
    from bfrbench.io.images import encode_png

    rows = read_manifest(src)
    counts: dict[str, int] = {}
    kept = []
    with atomic_dir(dst, overwrite=True) as tmp:
        for sub in ("hq", "real_lq"):
            (tmp / sub).mkdir()
        for row in sorted(rows, key=lambda r: r["name"]):
            split = row["split"]
            if counts.get(split, 0) >= MAX_PER_SPLIT:
                continue
            sub = "real_lq" if split == "real_lq" else "hq"
            ref = row.get("path") or src / sub / f"{row['name']}.png"
            img = _resize(read_face(ref), size)
            (tmp / sub / f"{row['name']}.png").write_bytes(encode_png(img))
            counts[split] = counts.get(split, 0) + 1
            kept.append({"name": row["name"], "split": split, "identity": row.get("identity", row["name"])})
        with open(tmp / "manifest.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["name", "split", "identity"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(kept)
        (tmp / "summary.json").write_text(json.dumps({"source": f"resized copy of {src}", "faces": counts}) + "\n")
    return counts


def _face_size(faces: Path) -> int | None:
    from bfrbench.data.faces import face_paths, read_face

    for split in ("train", "val", "test"):
        refs = face_paths(faces, split)
        if refs:
            return int(read_face(refs[0]).shape[0])
    return None


def build_smoke_faces(work: Path, env: Mapping[str, str]) -> Path:
    """`bfrbench data prepare` under the smoke profile, into work/smoke_faces (reused when already there)."""
    out = work / "smoke_faces"
    if (out / "manifest.csv").is_file():
        return out
    params = work / "smoke_params.yaml"
    shutil.copyfile(Path("experiments/profiles/smoke.yaml"), params)
    cmd = [sys.executable, "-m", "bfrbench.cli", "--no-progress", "data", "prepare", "--params", params.name,
           "--out", out.name, "--overwrite"]
    done = subprocess.run(cmd, cwd=work, env=dict(env), capture_output=True, text=True)
    if done.returncode != 0:
        raise BFRBenchError(f"building the smoke faces failed:\n{done.stderr[-2000:]}",
                            fix="pass --data DIR (a prepared face set, e.g. from `bfrbench data prepare`)")
    return out


def prepare_faces(out: Path, data: str | None, size: int, env: Mapping[str, str]) -> list[str]:
    """Fill out/artifacts/faces at `size` px; returns the notes saying what the faces are."""
    dst = out / "artifacts" / "faces"
    if data:
        src, what = Path(data).resolve(), f"--data {data}"
    elif Path("artifacts/faces/manifest.csv").is_file():
        src, what = Path("artifacts/faces").resolve(), "the repository's artifacts/faces (the active profile's set)"
    else:
        src, what = build_smoke_faces(out, env).resolve(), "the smoke faces (registry packages, `bfrbench data " \
                                                            "prepare` under experiments/profiles/smoke.yaml)"
    marker = out / "artifacts" / MARKER
    key = {"source": str(src), "size": size, "manifest_mtime": os.stat(src / "manifest.csv").st_mtime_ns}
    if not (marker.is_file() and json.loads(marker.read_text()) == key and (dst / "manifest.csv").is_file()):
        native = _face_size(src)
        if native == size and data:
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.is_symlink() or dst.exists():
                shutil.rmtree(dst) if dst.is_dir() and not dst.is_symlink() else dst.unlink()
            dst.symlink_to(src, target_is_directory=True)
        else:
            resize_face_set(src, dst, size)
        marker.write_text(json.dumps(key) + "\n")
    native = _face_size(src)
    resized = f", resized {native} -> {size} px" if native != size else ""
    return [f"faces: {what}{resized}; not the profile's data set, so no number here is a result"]


def make_lq_set(out: Path, params: Mapping[str, Any], size: int, count: int = 2,
                dst: Path | None = None) -> tuple[Path, list[str]]:
    """`count` test faces degraded with the profile's first synthetic test set's degradation (else CodeFormer's
    stage-II preset, which the paper's CelebA-Test pairs follow): `dst`/{lq,hq}, by default out/artifacts/lq_set.
    Also the stand-in for absent real degradation pairs (bfrbench.methods.flipnet.preflight)."""
    from bfrbench.stages.testsets import make_testset

    spec = next((s for s in params["testsets"].values() if s.get("kind") == "synthetic"), None)
    degradation, named = ((spec["degradation"], "the profile's synthetic test set's degradation")
                          if spec else ({"preset": "codeformer_stage2"}, "preset codeformer_stage2"))
    dst = dst or out / "artifacts" / "lq_set"
    make_testset("preflight", {"kind": "synthetic", "source_split": "test", "degradation": degradation,
                               "limit": count}, {"seed": params["seed"], "size": size}, out / "artifacts" / "faces",
                 dst, overwrite=True, progress=False)
    return dst, [f"restore/score: {count} test faces degraded with {named}"]
