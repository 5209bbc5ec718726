"""Tiny real (degraded, clean) pair sets in each layout bfrbench.data.real_pairs reads (Dense-Haze, LOL, SIDD,
RealBlur, folder), for the reader tests and the FLIPNET real-pair stage test.

Every pair is written with its own random hq and lq = 255 - hq, so a test can tell which image landed where."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bfrbench.io.images import read_image, write_image

H, W = 40, 48  # above the test crop (32), so windows vary


def _hq(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _write_pair(lq: Path, hq: Path, seed: int, h: int = H, w: int = W) -> np.ndarray:
    """hq random (seeded), lq = 255 - hq; returns hq so a test can check which image landed where."""
    image = _hq(seed, h, w)
    write_image(hq, image)
    write_image(lq, 255 - image)
    return image


def _check(pairs, written: dict[str, np.ndarray]) -> None:
    """Each pair's hq is the image written for its key and its lq is the same pair's (255 - hq)."""
    assert [p.key for p in pairs] == sorted(written)
    for pair in pairs:
        hq, lq = read_image(pair.hq), read_image(pair.lq)
        np.testing.assert_array_equal(hq, written[pair.key], err_msg=pair.key)
        np.testing.assert_array_equal(lq, 255 - hq, err_msg=pair.key)


# --- one builder per layout ----------------------------------------------------------------------------------------


def make_dense_haze(root: Path) -> dict[str, np.ndarray]:
    """NTIRE 2019 Dense-Haze names with a gap (no 03, 04) and upper-case suffixes on some files."""
    (root / "hazy").mkdir(parents=True)
    (root / "GT").mkdir()
    (root / "hazy" / "readme.txt").write_text("not an image, ignored")
    written = {}
    for i, (key, lq_suffix, hq_suffix) in enumerate([("01", ".png", ".png"), ("02", ".PNG", ".png"),
                                                      ("05", ".png", ".PNG")]):
        written[key] = _write_pair(root / "hazy" / f"{key}_hazy{lq_suffix}", root / "GT" / f"{key}_GT{hq_suffix}", i)
    return written


def make_lol(root: Path) -> dict[str, np.ndarray]:
    (root / "low").mkdir(parents=True)
    (root / "high").mkdir()
    return {name: _write_pair(root / "low" / f"{name}.png", root / "high" / f"{name}.png", 10 + i)
            for i, name in enumerate(["1", "22", "100"])}


def make_sidd(root: Path, medium: bool = True) -> dict[str, np.ndarray]:
    """SIDD scene folders; sorted by name a scene folder lists every GT file before every NOISY file, so pairing by
    position would pair GT_010 with GT_011."""
    written = {}
    for s, scene in enumerate(["0001_001_S6_00100_00060_3200_L", "0002_001_S6_00100_00020_3200_N"]):
        (root / scene).mkdir(parents=True)
        prefix = scene[:5] if medium else ""  # Medium: the scene instance number, e.g. 0001_NOISY_SRGB_010.PNG
        for n in ("010", "011"):
            key = f"{scene}/{prefix}SRGB_{n}"
            written[key] = _write_pair(root / scene / f"{prefix}NOISY_SRGB_{n}.PNG",
                                       root / scene / f"{prefix}GT_SRGB_{n}.PNG", 20 + 2 * s + int(n))
    return written


REALBLUR_DIR = "RealBlur-J_ECC_IMCORR_centroid_itensity_ref"


def make_realblur(root: Path) -> dict[str, np.ndarray]:
    """A RealBlur-J tree and its train list; one line puts gt first, the next blur first, one scene is listed out of
    order; the test list (also present, as in the release) is not read by default."""
    written = {}
    lines = []
    for i, (scene, n, gt_first) in enumerate([("scene230", 3, True), ("scene001", 10, False), ("scene001", 2, True)]):
        gt = f"{REALBLUR_DIR}/{scene}/gt/gt_{n}.png"
        blur = f"{REALBLUR_DIR}/{scene}/blur/blur_{n}.png"
        (root / gt).parent.mkdir(parents=True, exist_ok=True)
        (root / blur).parent.mkdir(parents=True, exist_ok=True)
        written[f"{scene}/{n}"] = _write_pair(root / blur, root / gt, 40 + i)
        lines.append(f"{gt} {blur}" if gt_first else f"{blur}\t{gt}")
    (root / "RealBlur_J_train_list.txt").write_text("\n".join(lines[:2]) + "\n\n" + lines[2] + "\n")
    (root / "RealBlur_J_test_list.txt").write_text("no/such/gt/gt_1.png no/such/blur/blur_1.png\n")
    return written


def make_folder(root: Path) -> dict[str, np.ndarray]:
    (root / "lq").mkdir(parents=True)
    (root / "hq").mkdir()
    return {stem: _write_pair(root / "lq" / f"{stem}.png", root / "hq" / f"{stem}.png", 50 + i)
            for i, stem in enumerate(["b", "a", "c"])}


BUILDERS = {"dense_haze": make_dense_haze, "lol": make_lol, "sidd": make_sidd, "realblur": make_realblur,
            "folder": make_folder}


def _spec(kind: str, root: Path, name: str | None = None, **extra) -> dict:
    return {"name": name or kind, "kind": kind, "root": str(root), **extra}
