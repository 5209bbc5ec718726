"""The field's official test sets as a lab downloads them, and the check that a copy is whole.

`verify_testset` checks a folder against its `OfficialTestset`: the image count the papers report, every file an
8-bit RGB image (`bfrbench.io.images`), names unique and LQ/HQ paired by stem (`bfrbench.io.pairing`), the fixed
size where the set has one (CelebA-Test: 512x512), and the size distribution where it does not (the real LQ sets).
The first successful check writes `<root>/SHA256SUMS` (`sha256sum -c` reads it too); every later check compares
the folder with it, so a file changed, lost or added after the download is named. Nothing but that list is written.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bfrbench.errors import AssetError, ConfigError, ImageError, PairingError

DATA_ROOT = Path("data")  # where docs/datasets.md and experiments/profiles/paper.yaml put the field's data sets
SUMS_NAME = "SHA256SUMS"
_SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")  # sha256sum's text (" ") and binary ("*") line forms
_SHOWN = 5  # file names quoted in one error message


@dataclass(frozen=True)
class OfficialTestset:
    name: str
    title: str
    count: int  # images (pairs, for a paired set) in the distributed folder
    paired: bool  # lq/ and hq/ with identical names; otherwise the LQ images sit directly in the root
    size: int | None = None  # every image is size x size; None: real photos of any size (the distribution is shown)
    origin: str = ""
    count_note: str = ""  # why the count may differ from another figure a user has seen


OFFICIAL_TESTSETS: Mapping[str, OfficialTestset] = {spec.name: spec for spec in (
    OfficialTestset("celeba_test", "CelebA-Test", 3000, paired=True, size=512,
                    origin="GFPGAN's synthetic pairs from CelebA-HQ, the 512 px LQ and HQ folders VQFR's README links"),
    OfficialTestset("lfw_test", "LFW-Test", 1711, paired=False, origin="GFPGAN's real LQ faces from LFW"),
    OfficialTestset("wider_test", "WIDER-Test", 970, paired=False, origin="CodeFormer's real LQ faces from WIDER Face"),
    OfficialTestset("webphoto_test", "WebPhoto-Test", 407, paired=False,
                    origin="GFPGAN's real LQ faces cropped from old photos on the web",
                    count_note="407 is the count in the GFPGAN paper, which introduced the set; VQFR's README lists "
                               "its WebPhoto-Test download as 469 images, which fails here: see docs/datasets.md"),
    OfficialTestset("celebchild_test", "CelebChild-Test", 180, paired=False,
                    origin="GFPGAN's real LQ faces of celebrities as children"),
)}


def official_testset(name: str) -> OfficialTestset:
    if name not in OFFICIAL_TESTSETS:
        raise ConfigError(f"{name!r} is not an official test set", fix=f"use one of {', '.join(OFFICIAL_TESTSETS)}")
    return OFFICIAL_TESTSETS[name]


def default_root(name: str) -> Path:
    return DATA_ROOT / name


def set_folders(spec: OfficialTestset, root: Path) -> dict[str, Path]:
    """The folders that hold the set's images: lq/ and hq/ for a paired set, the root itself for an LQ-only set."""
    return {"lq": root / "lq", "hq": root / "hq"} if spec.paired else {"lq": root}


def _fetch_hint(spec: OfficialTestset, root: Path) -> str:
    where = f"{root}/lq/ and {root}/hq/ (identical file names)" if spec.paired else f"{root}/ directly"
    return f"put the official {spec.title} images ({spec.origin}) in {where}; see docs/datasets.md"


def _list_set(spec: OfficialTestset, root: Path) -> dict[str, dict[str, Path]]:
    """Folder key -> {stem: path}; duplicate stems and (for a paired set) unpaired names are errors naming a file."""
    from bfrbench.io.pairing import index_by_stem, pair_by_stem

    if not root.is_dir():
        raise AssetError(f"{root}: no such folder ({spec.title} is expected there)",
                         fix=f"{_fetch_hint(spec, root)}; or pass --root DIR")
    folders = set_folders(spec, root)
    for folder in folders.values():
        if not folder.is_dir():
            raise AssetError(f"{folder}: no such folder", fix=_fetch_hint(spec, root))
    listed = {key: index_by_stem(folder) for key, folder in folders.items()}
    for key, by_stem in listed.items():
        if not by_stem:
            also = f" (its images are in {root}/lq/, not in {root}/ itself)" if (root / "lq").is_dir() else ""
            raise AssetError(f"{folders[key]}: no images found{also}", fix=_fetch_hint(spec, root))
    if spec.paired:
        try:
            pair_by_stem(folders["lq"], folders["hq"])
        except PairingError as exc:
            raise PairingError(f"{spec.title} at {root}: lq/ and hq/ do not pair by file name; {exc.message}",
                               fix=f"every LQ face needs the HQ face of the same name: {_fetch_hint(spec, root)}"
                               ) from None
    return listed


def _check_count(spec: OfficialTestset, root: Path, listed: dict[str, dict[str, Path]]) -> None:
    found = len(listed["lq"])  # a paired set has as many HQ as LQ images: the pairing check passed
    if found == spec.count:
        return
    what = "LQ/HQ pairs" if spec.paired else "images"
    note = f" ({spec.count_note})" if spec.count_note else ""
    raise AssetError(f"{root}: {found:,} {what} found, {spec.title} has {spec.count:,}{note}",
                     fix=f"{_fetch_hint(spec, root)}; only image files count (PNG, JPEG, BMP, WebP, TIFF)")


def read_sums(path: Path) -> dict[str, str]:
    """`SHA256SUMS` -> {relative path: sha256}; a line not in sha256sum's format is an error naming it."""
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _SUMS_LINE.match(line)
        if not match:
            raise AssetError(f"{path}:{number}: not a sha256sum line: {line[:80]!r}",
                             fix=f"restore {path.name}, or delete it to write a new one from the current files")
        sums[match.group(2)] = match.group(1)
    return sums


def format_sums(digests: Mapping[str, str]) -> str:
    return "".join(f"{digest}  {rel}\n" for rel, digest in sorted(digests.items()))


def _named(paths: list[str], root: Path) -> str:
    shown = ", ".join(str(root / rel) for rel in paths[:_SHOWN])
    return shown + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


def _compare_names(spec: OfficialTestset, root: Path, sums_path: Path, listed_rel: list[str],
                   sums: Mapping[str, str]) -> None:
    fix = (f"restore the file(s) from the official {spec.title} download; if the change is deliberate, run "
           f"`bfrbench testset verify {spec.name} --root {root} --overwrite` to write a new {sums_path.name}")
    missing = sorted(set(sums) - set(listed_rel))
    if missing:
        raise AssetError(f"{len(missing)} file(s) listed in {sums_path} are missing: {_named(missing, root)}", fix=fix)
    extra = sorted(set(listed_rel) - set(sums))
    if extra:
        raise AssetError(f"{len(extra)} file(s) are not listed in {sums_path}: {_named(extra, root)}", fix=fix)


def _size_text(sizes: Counter) -> str:
    """`512x512 x 3,000` style, most common first (at most 5 sizes, then how many more)."""
    parts = [f"{w}x{h} x {n:,}" for (w, h), n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:_SHOWN]]
    more = len(sizes) - _SHOWN
    return ", ".join(parts) + (f", and {more} other sizes" if more > 0 else "")


def verify_testset(spec: OfficialTestset, root: str | Path, overwrite: bool = False,
                   progress: bool = True) -> dict[str, Any]:
    """Check the copy of `spec` in `root`; write `root/SHA256SUMS` the first time (or again with `overwrite`).

    Returns what was checked: count, sizes per folder (WxH -> images), and the sha256 list's path and whether it was
    written now. Any problem raises a `BFRBenchError` naming the file; nothing is written then.
    """
    from tqdm.auto import tqdm

    from bfrbench.io.atomic import write_text_atomic
    from bfrbench.io.images import decode_image

    root = Path(root)
    listed = _list_set(spec, root)
    sums_path = root / SUMS_NAME
    files = sorted(path.relative_to(root).as_posix() for by_stem in listed.values() for path in by_stem.values())
    sums = read_sums(sums_path) if sums_path.is_file() and not overwrite else None
    if sums is not None:
        _compare_names(spec, root, sums_path, files, sums)
    _check_count(spec, root, listed)

    digests: dict[str, str] = {}
    changed: list[str] = []
    sizes: dict[str, Counter] = {key: Counter() for key in listed}
    for rel in tqdm(files, desc=f"verify {spec.name}", disable=not progress):
        path = root / rel
        data = path.read_bytes()
        digests[rel] = hashlib.sha256(data).hexdigest()
        if sums is not None and sums[rel] != digests[rel]:
            changed.append(rel)  # reported together below: a changed file is named as changed, not as unreadable
            continue
        rgb = decode_image(data, path)
        height, width = rgb.shape[:2]
        if spec.size is not None and (height, width) != (spec.size, spec.size):
            want = f"{spec.size}x{spec.size}"
            raise ImageError(f"{path}: image is {width}x{height} (WxH), {spec.title} images are {want}",
                             fix=f"re-copy this file from the official {spec.title} download")
        sizes["hq" if spec.paired and rel.startswith("hq/") else "lq"][(width, height)] += 1
    if changed:
        raise AssetError(f"{len(changed)} file(s) differ from their sha256 in {sums_path}: {_named(changed, root)}",
                         fix=f"restore the file(s) from the official {spec.title} download; if the change is "
                             f"deliberate, run `bfrbench testset verify {spec.name} --root {root} --overwrite`")
    written = sums is None
    replaced = written and sums_path.is_file()
    if written:
        write_text_atomic(sums_path, format_sums(digests))
    return {"name": spec.name, "title": spec.title, "root": str(root), "count": len(listed["lq"]),
            "paired": spec.paired, "files": len(files), "sizes": {key: _size_text(c) for key, c in sizes.items()},
            "sums": str(sums_path), "sums_written": written,
            "sums_replaced": replaced}
