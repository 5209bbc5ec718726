"""Resume folders are keyed by the code too: a code change must not resume an old run's checkpoint."""

from __future__ import annotations

from bfrbench.training import fingerprint
from bfrbench.training.fingerprint import config_hash


def test_resume_key_changes_with_the_code(monkeypatch):
    key = config_hash({"lr": 1e-3}, {"seed": 0})
    assert key == config_hash({"lr": 1e-3}, {"seed": 0}) != config_hash({"lr": 2e-3}, {"seed": 0})
    assert len(fingerprint.code_fingerprint()) == 16
    monkeypatch.setattr(fingerprint, "code_fingerprint", lambda: "edited-code")
    assert config_hash({"lr": 1e-3}, {"seed": 0}) != key
