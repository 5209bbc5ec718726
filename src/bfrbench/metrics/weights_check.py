"""Availability of the registry weights a metric needs, as one "unavailable: ...; run ..." reason.

Shared by the learned metrics (LPIPS, the pyiqa no-reference metrics). A file counts as present only when it passes
the registry's sha256 check, or, for entries without an official full sha256, the 8-hex-digit sha256 prefix that the
official file name carries (torch.hub's convention, which pyiqa's weight names follow).
"""

from __future__ import annotations

import re
from pathlib import Path

from bfrbench.errors import AssetError, unavailable

_HASH_PREFIX = re.compile(r"-([0-9a-f]{8,})\.(?:pth|pt)$")


def missing_reason(
    names: tuple[str, ...], alternatives: dict[str, Path] | None = None, what: str = "weights"
) -> str | None:
    """None when every entry in `names` resolves to a verified file, else one reason naming all missing entries."""
    from bfrbench.assets import cache_dir

    missing, bad = [], []
    for name in names:
        try:
            resolve(name, alternatives)
        except AssetError as exc:
            (missing if "is not in the cache" in exc.message else bad).append((name, exc.message))
    if bad:
        return unavailable("; ".join(msg for _, msg in bad), "bfrbench weights fetch " + " ".join(n for n, _ in bad))
    if missing:
        from bfrbench.weights import get_asset

        files = ", ".join(get_asset(n).filename for n, _ in missing)
        return unavailable(
            f"{what} {files} missing (not in {cache_dir()} or $BFRBENCH_WEIGHTS_DIR)",
            "bfrbench weights fetch " + " ".join(n for n, _ in missing),
        )
    return None


def resolve(name: str, alternatives: dict[str, Path] | None = None) -> Path:
    """The verified local file of registry entry `name`; never downloads.

    `alternatives` maps an entry to another local copy (e.g. the one a pinned package ships), accepted only when its
    sha256 equals the entry's official sha256.
    """
    from bfrbench.assets import sha256_file
    from bfrbench.weights import get_asset, weights_path

    asset = get_asset(name)
    try:
        path = weights_path(name, download=False)
    except AssetError:
        other = (alternatives or {}).get(name)
        if other is not None and asset.sha256 and Path(other).is_file() and sha256_file(other) == asset.sha256:
            return Path(other)
        raise
    if asset.sha256 is None:
        match = _HASH_PREFIX.search(asset.filename)
        if match and not sha256_file(path).startswith(match.group(1)):
            raise AssetError(
                f"{path}: sha256 does not start with {match.group(1)}, the prefix in the official file name",
                fix=f"delete the file and run `bfrbench weights fetch {name}`",
            )
    return path
