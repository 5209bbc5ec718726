import hashlib

import pytest

from bfrbench import assets
from bfrbench.errors import AssetError


@pytest.fixture
def blob(tmp_path, monkeypatch):
    monkeypatch.setenv("BFRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BFRBENCH_WEIGHTS_DIR", raising=False)
    src = tmp_path / "remote" / "w.bin"
    src.parent.mkdir()
    src.write_bytes(b"weights" * 100)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    return src, sha


def test_download_verify_and_cache(blob, tmp_path):
    src, sha = blob
    asset = assets.Asset("toy", "w.bin", sha, (src.as_uri(),))
    path = assets.fetch(asset, progress=False)
    assert path == tmp_path / "cache" / "w.bin" and path.read_bytes() == src.read_bytes()
    src.unlink()  # the second call must come from the cache
    assert assets.fetch(asset, progress=False) == path


def test_bad_checksum_is_refused_and_not_cached(blob, tmp_path):
    src, _ = blob
    asset = assets.Asset("toy", "w.bin", "0" * 64, (src.as_uri(),))
    with pytest.raises(AssetError, match="does not match"):
        assets.fetch(asset, progress=False)
    assert not (tmp_path / "cache" / "w.bin").exists()


def test_unreachable_url_and_no_download(blob, tmp_path):
    _, sha = blob
    asset = assets.Asset("toy", "w.bin", sha, ("http://127.0.0.1:9/w.bin",))
    with pytest.raises(AssetError, match="(?s)could not download 'toy'.*BFRBENCH_WEIGHTS_DIR"):
        assets.fetch(asset, progress=False)
    with pytest.raises(AssetError, match="bfrbench weights fetch toy"):
        assets.fetch(asset, download=False)


def test_local_dir_override(blob, tmp_path, monkeypatch):
    src, sha = blob
    monkeypatch.setenv("BFRBENCH_WEIGHTS_DIR", str(src.parent))
    asset = assets.Asset("toy", "w.bin", sha, ("http://127.0.0.1:9/w.bin",))
    assert assets.fetch(asset, download=False) == src
