"""The `data` stage: build or index the aligned face set the profile names.

`smoke`: real faces from registry packages (see bfrbench.data.smoke). `folder`: a lab's own aligned HQ faces
(e.g. FFHQ 512 under data/, versioned by data.dvc) indexed into a manifest with an identity-free hash split."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bfrbench.errors import ConfigError

FOLDER_KEYS = {"hq", "split", "limit"}
SMOKE_KEYS = {"min_face", "split", "lowres_max_side"}


def _split_of(key: str, seed: int, split: list[float]) -> str:
    u = int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:16], 16) / 2**64
    edges = [split[0], split[0] + split[1]]
    return "train" if u < edges[0] else ("val" if u < edges[1] else "test")


def prepare_faces(params: Mapping[str, Any], out: Path, overwrite: bool = False,
                  progress: bool = True) -> dict[str, Any]:
    from bfrbench.tracking import stage_run

    data = params["data"]
    source = data.get("source")
    with stage_run("data", params["profile"], {"data": data, "seed": params["seed"], "size": params["size"]}) as run:
        if source == "smoke":
            from bfrbench.data.smoke import build_smoke_faces

            opts = dict(data.get("smoke", {}))
            unknown = sorted(set(opts) - SMOKE_KEYS)
            if unknown:
                raise ConfigError(f"data.smoke: unknown key(s) {unknown}", fix=f"valid: {sorted(SMOKE_KEYS)}")
            summary = build_smoke_faces(out, size=int(params["size"]), seed=int(params["seed"]), overwrite=overwrite,
                                        progress=progress, **opts)
        elif source == "folder":
            summary = _index_folder(data.get("folder", {}), params, out, overwrite, progress)
        else:
            raise ConfigError(f"data.source: {source!r} is not a face-set source", fix="use smoke or folder")
        run.log_metrics({f"count.{k}": v for k, v in summary.get("faces", {}).items()})
        run.log_artifact(out / "manifest.csv")
        if (out / "summary.json").is_file():
            run.log_artifact(out / "summary.json")
    return summary


def _index_folder(cfg: Mapping[str, Any], params: Mapping[str, Any], out: Path, overwrite: bool,
                  progress: bool) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from bfrbench.data.faces import read_face
    from bfrbench.io.atomic import atomic_dir
    from bfrbench.io.lmdb_store import REF_SEPARATOR, is_lmdb_dir, lmdb_keys
    from bfrbench.io.pairing import index_by_stem

    unknown = sorted(set(cfg) - FOLDER_KEYS)
    if unknown:
        raise ConfigError(f"data.folder: unknown key(s) {unknown}", fix=f"valid: {sorted(FOLDER_KEYS)}")
    if "hq" not in cfg:
        raise ConfigError("data.folder.hq: the folder of aligned HQ faces is not set", fix="e.g. hq: data/ffhq512")
    split = list(cfg.get("split", [0.98, 0.01, 0.01]))
    if is_lmdb_dir(cfg["hq"]):
        db = str(Path(cfg["hq"]).resolve())
        index = {key: f"{db}{REF_SEPARATOR}{key}" for key in lmdb_keys(db)}
    else:
        index = {stem: str(p.resolve()) for stem, p in index_by_stem(cfg["hq"]).items()}
    stems = sorted(index)[: int(cfg["limit"])] if cfg.get("limit") else sorted(index)
    rows, counts = [], {"train": 0, "val": 0, "test": 0}
    size = int(params["size"])
    for stem in tqdm(stems, desc="index faces", disable=not progress):
        read_face(index[stem], size=size)  # every face is checked once here, not mid-epoch
        s = _split_of(stem, int(params["seed"]), split)
        counts[s] += 1
        rows.append({"name": stem, "split": s, "identity": stem, "path": index[stem]})
    with atomic_dir(out, overwrite=overwrite) as tmp:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["name", "split", "identity", "path"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        (tmp / "manifest.csv").write_text(buf.getvalue())
        summary = {"source": "folder", "hq": str(cfg["hq"]), "faces": counts, "split": split}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def folder_to_lmdb(hq: Path, out: Path, size: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Pack a folder of aligned faces into an LMDB set (BasicSR layout); every image is validated first."""
    from tqdm.auto import tqdm

    from bfrbench.io.atomic import check_can_write
    from bfrbench.io.images import encode_png, read_image
    from bfrbench.io.lmdb_store import write_lmdb
    from bfrbench.io.pairing import index_by_stem

    check_can_write(out, overwrite=False)
    index = index_by_stem(hq)
    entries = []
    for stem in tqdm(sorted(index), desc="pack lmdb", disable=not progress):
        img = read_image(index[stem], size=size)
        entries.append((stem, encode_png(img), img.shape))
    write_lmdb(entries, out)
    return {"images": len(entries), "out": str(out)}
