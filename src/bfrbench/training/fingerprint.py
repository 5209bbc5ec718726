"""A fingerprint of the package's code, part of every resume folder's key.

Why: resume folders (checkpoints/METHOD/STAGE/<key>/) used to be keyed by the config alone, so after a code change
`dvc repro` re-ran a stage that then resumed the old run's last checkpoint at max_steps and saved the old weights
again. DVC re-runs a train stage when its code changes; the resume key must change with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    root = Path(__file__).resolve().parents[1]  # the bfrbench package
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def config_hash(cfg: Mapping[str, Any], extra: Mapping[str, Any]) -> str:
    """Key of a resume folder: the stage's config, the run's identity (`extra`: seed, size, faces) and the code."""
    blob = json.dumps({"cfg": cfg, **extra, "code": code_fingerprint()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
