"""`bfrbench weights list|fetch` and `weights_reason`, offline: downloads come from file:// URLs."""

from __future__ import annotations

import hashlib

import pytest

from bfrbench import weights
from bfrbench.assets import Asset
from bfrbench.cli import main


@pytest.fixture
def fake_entry(tmp_path, monkeypatch):
    src = tmp_path / "src" / "net.pth"
    src.parent.mkdir()
    src.write_bytes(b"weights" * 100)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    asset = Asset("test_net", "net.pth", digest, (src.as_uri(),), tags=("metric", "test_metric"))
    monkeypatch.setitem(weights.WEIGHTS, asset.name, asset)
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)
    return asset


def test_reason_names_the_fetch_command_until_fetched(fake_entry, capsys):
    reason = weights.weights_reason("test_net")
    assert reason.startswith("unavailable:") and "bfrbench weights fetch test_net" in reason
    main(["weights", "list"])
    assert "missing" in capsys.readouterr().out
    assert main(["weights", "fetch", "test_net"]) == 0
    assert weights.weights_reason("test_net") is None
    assert weights.weights_path("test_net").read_bytes() == b"weights" * 100
    main(["weights", "list"])
    assert "present" in capsys.readouterr().out


def test_fetch_by_tag(fake_entry):
    assert main(["weights", "fetch", "--tag", "test_metric"]) == 0
    assert weights.weights_reason("test_net") is None


def test_wrong_checksum_is_unavailable_not_used(fake_entry, tmp_path, monkeypatch):
    bad = Asset("test_net", "net.pth", "0" * 64, fake_entry.urls)
    monkeypatch.setitem(weights.WEIGHTS, "test_net", bad)
    assert main(["weights", "fetch", "test_net"]) == 2
    assert not (tmp_path / "cache" / "net.pth").exists()
    (tmp_path / "cache").mkdir(exist_ok=True)
    (tmp_path / "cache" / "net.pth").write_bytes(b"tampered")
    reason = weights.weights_reason("test_net")
    assert "does not match" in reason and "bfrbench weights fetch test_net" in reason


def test_unknown_entry_exits_2(capsys):
    assert main(["weights", "fetch", "no_such_weights"]) == 2
    assert "bfrbench weights list" in capsys.readouterr().err


def test_registry_entries_are_well_formed():
    for name, asset in weights.WEIGHTS.items():
        assert asset.name == name and asset.urls and asset.filename
        assert asset.sha256 is None or len(asset.sha256) == 64
        assert all(u.startswith("https://") for u in asset.urls), name


def test_a_web_page_is_never_accepted_as_weights(tmp_path, monkeypatch):
    """Folder links (Google Drive) answer with HTML: refused even for entries without an official sha256."""
    page = tmp_path / "folder.html"
    page.write_text("<html><body>Google Drive folder</body></html>")
    asset = Asset("test_drive", "stats.pth", None, (page.as_uri(),))
    monkeypatch.setitem(weights.WEIGHTS, asset.name, asset)
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    assert main(["weights", "fetch", "test_drive"]) == 2
    assert not (tmp_path / "cache" / "stats.pth").exists()
