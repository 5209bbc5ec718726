"""Downloadable assets (weights, face-photo packages): URL + sha256 + cache dir + local-dir override.

Resolution order for an asset file name:
1. `$BFRBENCH_WEIGHTS_DIR/<filename>` (or any folder in that os.pathsep-separated list): files a user downloaded
   elsewhere. Checked against the sha256 too.
2. `<cache>/<filename>`, cache = `$BFRBENCH_CACHE` or `~/.cache/bfrbench`.
3. Download from each URL in turn (only when `download=True`), verify, then move into the cache.
A wrong checksum is never accepted: the file is reported with both hashes.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bfrbench.errors import AssetError
from bfrbench.io.atomic import atomic_path


@dataclass(frozen=True)
class Asset:
    name: str
    filename: str
    sha256: str | None  # None only where no public source states the official hash (see bfrbench.weights)
    urls: tuple[str, ...]
    size: int | None = None
    licence: str = ""
    description: str = ""
    tags: tuple[str, ...] = field(default=())


def cache_dir() -> Path:
    return Path(os.environ.get("BFRBENCH_CACHE", Path.home() / ".cache" / "bfrbench")).expanduser()


def local_dirs() -> list[Path]:
    raw = os.environ.get("BFRBENCH_WEIGHTS_DIR", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fetch_command(asset: Asset) -> str:
    return f"bfrbench weights fetch {asset.name}"


def _verified(path: Path, asset: Asset) -> Path:
    got = sha256_file(path)
    if asset.sha256 is None:
        import logging

        logging.getLogger(__name__).warning(
            "%s: no official sha256 is recorded for '%s'; accepted unverified (sha256 %s)", path, asset.name, got
        )
        return path
    if got != asset.sha256:
        raise AssetError(
            f"{path}: sha256 {got[:16]}... does not match the expected {asset.sha256[:16]}... for '{asset.name}'",
            fix=f"delete the file and run `{fetch_command(asset)}`, or put the official file there",
        )
    return path


def find_local(asset: Asset) -> Path | None:
    """The verified local copy of `asset`, or None if there is none (a corrupt copy raises)."""
    for folder in [*local_dirs(), cache_dir()]:
        candidate = folder / asset.filename
        if candidate.is_file():
            return _verified(candidate, asset)
    return None


def _download(url: str, dest: Path, asset: Asset, progress: bool) -> None:
    from tqdm.auto import tqdm

    req = urllib.request.Request(url, headers={"User-Agent": "bfrbench"})
    with urllib.request.urlopen(req, timeout=60) as resp, open(dest, "wb") as out:
        if resp.headers.get_content_type() == "text/html" and not asset.filename.endswith((".html", ".htm")):
            # A folder page (Google Drive, Baidu), a login wall or an error page: never a weights file.
            raise AssetError(
                f"{url} returned a web page, not the file {asset.filename}",
                fix=f"open {url} in a browser, download {asset.filename} and put it in $BFRBENCH_WEIGHTS_DIR",
            )
        total = int(resp.headers.get("Content-Length") or 0) or asset.size
        with tqdm(total=total, unit="B", unit_scale=True, desc=asset.filename, disable=not progress) as bar:
            while block := resp.read(1 << 20):
                out.write(block)
                bar.update(len(block))


def fetch(asset: Asset, download: bool = True, progress: bool = True) -> Path:
    """Return the path of a verified copy of `asset`, downloading it into the cache if needed and allowed."""
    found = find_local(asset)
    if found is not None:
        return found
    if not download:
        raise AssetError(
            f"'{asset.name}' ({asset.filename}) is not in the cache ({cache_dir()}) or $BFRBENCH_WEIGHTS_DIR",
            fix=f"run `{fetch_command(asset)}`, or download it from {asset.urls[0]} into $BFRBENCH_WEIGHTS_DIR",
        )
    dest = cache_dir() / asset.filename
    errors = []
    for url in asset.urls:
        try:
            with atomic_path(dest) as tmp:
                _download(url, tmp, asset, progress)
                _verified(tmp, asset)
            return dest
        except AssetError as exc:
            errors.append(f"{url}: {exc.message}")
        except OSError as exc:  # URLError, timeouts, DNS failures
            errors.append(f"{url}: {exc}")
    raise AssetError(
        f"could not download '{asset.name}': " + "; ".join(errors),
        fix=f"download {asset.filename} by hand (sha256 {asset.sha256}) and put it in $BFRBENCH_WEIGHTS_DIR or "
        f"{cache_dir()}",
    )
