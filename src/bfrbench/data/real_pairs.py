"""Real (degraded, clean) image pairs from public non-face datasets, served as aligned random crops.

FLIPNET's Degradation mode learns real degradations from real pairs: Dense-Haze (haze), LOL (low light), SIDD
(sensor noise), RealBlur (camera shake), or a generic `lq/` + `hq/` folder. Each reader follows its dataset's own
layout and pairs files by the dataset's own naming (`01_hazy.png` <-> `01_GT.png`, `NOISY` <-> `GT`, RealBlur's list
file), never by sorted position: a missing or extra file is an error naming it, not a silent shift of every later
pair. The sets are large photos, so `RealPairs` serves crops; like the rest of the data module, every random choice
(crop window, flip) derives from (seed, epoch, index), so a sample is the same whatever the workers or processes.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from bfrbench.data.degradation import sample_rng
from bfrbench.errors import BFRBenchError, ConfigError, PairingError

KINDS = ("dense_haze", "lol", "sidd", "realblur", "folder")
STREAM_REAL_PAIRS = 32  # rng stream of the crops and flips; above STREAM_BRANCH + branch (16 + a few)

_KEYS = {"name", "kind", "root", "list"}
_DENSE_HAZE_SUFFIXES = (".png", ".jpg", ".jpeg")
_DENSE_HAZE_LQ = re.compile(r"^(.+)_hazy$", re.IGNORECASE)
_DENSE_HAZE_HQ = re.compile(r"^(.+)_GT$", re.IGNORECASE)
_REALBLUR_NUMBER = re.compile(r"^gt_(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class RealPair:
    set_name: str  # the spec's name
    key: str  # the pair's id inside its set, unique per set
    lq: Path  # degraded image
    hq: Path  # clean image


# --- specs ---------------------------------------------------------------------------------------------------------


def _check_spec(spec: Any, where: str) -> tuple[str, str, Path]:
    """(name, kind, root) of a spec; refuses anything but a mapping with name, kind, root (and list for realblur)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping with name, kind and root, got {type(spec).__name__}",
                          fix=f"write it as {{name: hazy, kind: dense_haze, root: /data/Dense-Haze}}; kinds: "
                              f"{', '.join(KINDS)}")
    missing = [k for k in ("name", "kind", "root") if spec.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {missing}", fix="give every real pair set a name, kind and root")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}", fix=f"valid keys: {', '.join(sorted(_KEYS))}")
    name, kind = spec["name"], spec["kind"]
    if not isinstance(name, str):
        raise ConfigError(f"{where}: name must be a string, got {name!r}", fix="give the set a short name, e.g. sidd")
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown kind {kind!r}", fix=f"kind is one of: {', '.join(KINDS)}")
    if "list" in spec and kind != "realblur":
        raise ConfigError(f"{where} ({kind}): 'list' is only read for kind realblur", fix="remove the 'list' key")
    return name, kind, Path(spec["root"]).expanduser()


def _subdir(parent: Path, name: str, where: str, fix: str) -> Path:
    """`parent/name`, or its one case variant (`GT` / `gt`); an error naming the missing folder otherwise."""
    if (parent / name).is_dir():
        return parent / name
    if parent.is_dir():
        found = [p for p in parent.iterdir() if p.is_dir() and p.name.lower() == name.lower()]
        if len(found) == 1:
            return found[0]
    raise BFRBenchError(f"{where}: folder {parent / name} not found", fix=fix)


def _images(folder: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    """Image files directly in `folder` (hidden files skipped), sorted by name."""
    from bfrbench.io.images import list_images

    return [p for p in list_images(folder) if suffixes is None or p.suffix.lower() in suffixes]


def _join(lq: dict[str, Path], hq: dict[str, Path], set_name: str, where: str, lq_what: str, hq_what: str,
          fix: str) -> list[RealPair]:
    """Pairs of equal keys; any degraded file without a clean partner, or the reverse, is an error naming it."""
    for mine, theirs, what, other in ((lq, hq, lq_what, hq_what), (hq, lq, hq_what, lq_what)):
        alone = sorted(set(mine) - set(theirs))
        if alone:
            raise BFRBenchError(f"{where}: {len(alone)} {what} image(s) have no {other} partner, e.g. "
                                f"{mine[alone[0]]} (pair key {alone[0]!r})", fix=fix)
    return [RealPair(set_name, key, lq[key], hq[key]) for key in sorted(lq)]


def _add(by_key: dict[str, Path], key: str, path: Path, where: str) -> None:
    if key in by_key:
        raise BFRBenchError(f"{where}: {by_key[key]} and {path} are the same pair (key {key!r})",
                            fix="keep one of the two files")
    by_key[key] = path


# --- one reader per layout -----------------------------------------------------------------------------------------


def _read_dense_haze(name: str, root: Path, where: str) -> list[RealPair]:
    """`root/hazy/NN_hazy.png` <-> `root/GT/NN_GT.png` (NTIRE 2019 Dense-Haze; also O-HAZE, NH-HAZE names)."""
    fix = "Dense-Haze pairs are hazy/NN_hazy.png and GT/NN_GT.png: add the partner or remove the file"
    sides = []
    for folder, pattern, label in (("hazy", _DENSE_HAZE_LQ, "_hazy"), ("GT", _DENSE_HAZE_HQ, "_GT")):
        folder = _subdir(root, folder, where, fix="point root at the Dense-Haze folder holding hazy/ and GT/")
        by_key: dict[str, Path] = {}
        for path in _images(folder, _DENSE_HAZE_SUFFIXES):
            match = pattern.match(path.stem)
            if match is None:
                raise BFRBenchError(f"{where}: {path} is not named like NN{label}{path.suffix}",
                                    fix="rename or remove the file")
            _add(by_key, match.group(1), path, where)
        sides.append(by_key)
    return _join(sides[0], sides[1], name, where, "hazy", "GT", fix)


def _by_stem(folder: Path, where: str) -> dict[str, Path]:
    from bfrbench.io.pairing import index_by_stem

    try:
        return index_by_stem(folder)
    except PairingError as exc:
        raise BFRBenchError(f"{where}: {exc.message}", fix=exc.fix) from None


def _read_same_names(name: str, root: Path, where: str, lq_dir: str, hq_dir: str, what: str) -> list[RealPair]:
    lq = _subdir(root, lq_dir, where, fix=f"point root at the {what} folder holding {lq_dir}/ and {hq_dir}/")
    hq = _subdir(root, hq_dir, where, fix=f"point root at the {what} folder holding {lq_dir}/ and {hq_dir}/")
    return _join(_by_stem(lq, where), _by_stem(hq, where), name, where, lq_dir, hq_dir,
                 fix=f"give every image in {lq} a partner of the same name in {hq}, and the reverse")


def _read_lol(name: str, root: Path, where: str) -> list[RealPair]:
    """`root/low/X.png` <-> `root/high/X.png` (LOL, e.g. our485/ or eval15/)."""
    return _read_same_names(name, root, where, "low", "high", "LOL")


def _read_folder(name: str, root: Path, where: str) -> list[RealPair]:
    """`root/lq/X.*` <-> `root/hq/X.*` by file stem."""
    return _read_same_names(name, root, where, "lq", "hq", "pair")


def _read_sidd(name: str, root: Path, where: str) -> list[RealPair]:
    """`Data/<scene>/[0001_]NOISY_SRGB_010.PNG` <-> `[0001_]GT_SRGB_010.PNG` (SIDD Medium or Small sRGB)."""
    data = root / "Data" if (root / "Data").is_dir() else root  # root holds Data/, or is Data/ itself
    lq: dict[str, Path] = {}
    hq: dict[str, Path] = {}
    for scene in sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in _images(scene):
            tokens = path.stem.split("_")
            upper = [t.upper() for t in tokens]
            noisy, gt = "NOISY" in upper, "GT" in upper
            if noisy == gt:
                raise BFRBenchError(f"{where}: {path} is neither a NOISY nor a GT image of SIDD",
                                    fix="remove it from the scene folder (SIDD names are [0001_]NOISY_SRGB_010.PNG "
                                        "and [0001_]GT_SRGB_010.PNG)")
            side = upper.index("NOISY" if noisy else "GT")
            key = f"{scene.name}/{'_'.join(tokens[:side] + tokens[side + 1:])}"
            _add(lq if noisy else hq, key, path, where)
    return _join(lq, hq, name, where, "NOISY", "GT",
                 fix="every NOISY file needs the file of the same name with NOISY replaced by GT, and the reverse")


def _realblur_list(root: Path, spec: Mapping[str, Any], where: str) -> Path:
    if spec.get("list"):
        path = root / Path(spec["list"]).expanduser()
        if not path.is_file():
            raise BFRBenchError(f"{where}: list file {path} not found",
                                fix="set 'list' to the RealBlur list file (e.g. RealBlur_J_train_list.txt) in root")
        return path
    found = sorted(root.glob("*_train_list.txt"))
    if len(found) != 1:
        have = f"several ({', '.join(p.name for p in found)})" if found else "no *_train_list.txt file"
        raise ConfigError(f"{where}: {root} holds {have}, so the list file is not known",
                          fix="set 'list' in the spec, e.g. list: RealBlur_J_train_list.txt")
    return found[0]


def _realblur_line(fields: list[str], root: Path, at: str) -> tuple[str, Path, Path]:
    """(key, blur, gt) of one list line; blur and gt are told apart by their folder name, not their position."""
    blur = [f for f in fields if "blur" in Path(f).parts[:-1] and "gt" not in Path(f).parts[:-1]]
    gt = [f for f in fields if "gt" in Path(f).parts[:-1] and "blur" not in Path(f).parts[:-1]]
    if len(fields) != 2 or len(blur) != 1 or len(gt) != 1:
        raise BFRBenchError(f"{at}: expected one path in a gt/ folder and one in a blur/ folder, got {fields}",
                            fix="fix the line: '<scene>/gt/gt_N.png <scene>/blur/blur_N.png'")
    for rel in (blur[0], gt[0]):
        if not (root / rel).is_file():
            raise BFRBenchError(f"{at}: {root / rel} not found", fix="extract the whole RealBlur archive into root")
    gt_path = Path(gt[0])
    parts = gt_path.parts
    scene = parts[parts.index("gt") - 1] if parts.index("gt") > 0 else ""
    number = _REALBLUR_NUMBER.match(gt_path.stem)
    key = f"{scene}/{number.group(1) if number else gt_path.stem}"
    return key, root / blur[0], root / gt[0]


def _read_realblur(name: str, root: Path, where: str, spec: Mapping[str, Any]) -> list[RealPair]:
    """The pairs of a RealBlur list file (`<scene>/gt/gt_N.png <scene>/blur/blur_N.png` per line) under root."""
    if not root.is_dir():
        raise BFRBenchError(f"{where}: folder {root} not found", fix="point root at the extracted RealBlur folder")
    listed = _realblur_list(root, spec, where)
    lq: dict[str, Path] = {}
    hq: dict[str, Path] = {}
    for number, line in enumerate(listed.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        at = f"{where}: {listed}, line {number}"
        key, blur, gt = _realblur_line(fields, root, at)
        _add(hq, key, gt, at)
        _add(lq, key, blur, at)
    return _join(lq, hq, name, where, "blur", "gt", fix=f"fix {listed}")


_READERS = {"dense_haze": _read_dense_haze, "lol": _read_lol, "sidd": _read_sidd, "folder": _read_folder}


def read_pairs(spec: Mapping[str, Any], where: str = "data.real_pairs") -> list[RealPair]:
    """The pairs of one set, sorted by key. `spec` = {name, kind (one of KINDS), root}, and for realblur an optional
    `list` (default: the one `*_train_list.txt` in root)."""
    name, kind, root = _check_spec(spec, where)
    where = f"{where} ({kind})"
    if kind == "realblur":
        pairs = _read_realblur(name, root, where, spec)
    else:
        if not root.is_dir():
            raise BFRBenchError(f"{where}: folder {root} not found", fix="point root at the extracted data set")
        pairs = _READERS[kind](name, root, where)
    if not pairs:
        raise BFRBenchError(f"{where}: no image pairs found in {root}",
                            fix=f"point root at the {kind} data set's folder (see bfrbench.data.real_pairs)")
    return pairs


def read_sets(specs: Sequence[Mapping[str, Any]], where: str = "data.real_pairs") -> list[list[RealPair]]:
    """The pairs of every set, in spec order; set names must be unique (they name the sets in logs)."""
    if isinstance(specs, (str, bytes, Mapping)) or not isinstance(specs, Sequence):
        raise ConfigError(f"{where}: expected a list of sets, got {type(specs).__name__}",
                          fix="write it as a list of {name, kind, root} mappings")
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        name, kind, _ = _check_spec(spec, f"{where}[{i}]")
        if name in seen:
            raise ConfigError(f"{where}[{i}] ({kind}): set name {name!r} is also the name of {where}[{seen[name]}]",
                              fix="give every real pair set its own name")
        seen[name] = i
    return [read_pairs(spec, f"{where}[{i}]") for i, spec in enumerate(specs)]


# --- crops ---------------------------------------------------------------------------------------------------------


def _cover(lq: np.ndarray, hq: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """Both images resized by one factor so the smaller side is `crop`, when it is below (else unchanged)."""
    h, w = hq.shape[:2]
    if min(h, w) >= crop:
        return lq, hq
    # Some sets are smaller than the training crop (LOL is 600x400, below the paper's 512): upscaling both images by
    # the same factor keeps them aligned and keeps every pair usable, instead of refusing or padding the set.
    import cv2

    scale = crop / min(h, w)
    size = (crop if w <= h else max(crop, round(w * scale)), crop if h <= w else max(crop, round(h * scale)))
    return (cv2.resize(lq, size, interpolation=cv2.INTER_CUBIC), cv2.resize(hq, size, interpolation=cv2.INTER_CUBIC))


class RealPairs(Dataset):
    """Aligned crops of the real pairs of several sets, addressed by (epoch, index); index runs over all sets."""

    def __init__(self, specs: Sequence[Mapping[str, Any]], crop: int, seed: int, flip: bool = True):
        if isinstance(crop, bool) or not isinstance(crop, int) or crop < 1:
            raise ConfigError(f"real pairs: crop must be a positive integer, got {crop!r}", fix="set e.g. crop: 512")
        sets = read_sets(specs)
        if not sets:
            raise ConfigError("data.real_pairs: no real pair sets given",
                              fix=f"list at least one {{name, kind, root}} set; kinds: {', '.join(KINDS)}")
        self.set_names = [pairs[0].set_name for pairs in sets]
        self.pairs = [pair for pairs in sets for pair in pairs]
        self.starts = [0, *accumulate(len(pairs) for pairs in sets[:-1])]  # first global index of every set
        self.crop, self.seed, self.flip = crop, seed, flip

    def __len__(self) -> int:
        return len(self.pairs)

    def set_of(self, index: int) -> int:
        """The position in `specs` of the set that global `index` belongs to."""
        if not 0 <= index < len(self.pairs):
            raise IndexError(f"index {index} out of range for {len(self.pairs)} real pairs")
        return bisect.bisect_right(self.starts, index) - 1

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        from bfrbench.data.tensors import to_tensor
        from bfrbench.io.images import read_image

        epoch, index = key
        which = self.set_of(index)  # refuses an index out of range (a negative one would wrap around)
        pair = self.pairs[index]
        lq, hq = read_image(pair.lq), read_image(pair.hq)
        if lq.shape != hq.shape:
            raise BFRBenchError(f"{pair.set_name} pair {pair.key!r}: {pair.lq} is {lq.shape[1]}x{lq.shape[0]} but "
                                f"{pair.hq} is {hq.shape[1]}x{hq.shape[0]} (WxH)",
                                fix="a degraded image and its clean image must be the same size: fix or remove them")
        lq, hq = _cover(lq, hq, self.crop)
        rng = sample_rng(self.seed, epoch, index, STREAM_REAL_PAIRS)
        top = int(rng.integers(0, hq.shape[0] - self.crop + 1))
        left = int(rng.integers(0, hq.shape[1] - self.crop + 1))
        window = np.s_[top:top + self.crop, left:left + self.crop]
        lq, hq = lq[window], hq[window]
        if self.flip and rng.random() < 0.5:
            lq, hq = lq[:, ::-1], hq[:, ::-1]
        return {"lq": to_tensor(lq), "hq": to_tensor(hq), "index": index, "set": which}
