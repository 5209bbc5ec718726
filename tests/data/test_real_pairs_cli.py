"""`bfrbench data real-pairs`: the sets a config names are paired, decoded and counted; a bad file stops it by name."""

from __future__ import annotations

import yaml

from bfrbench.cli import main
from real_pair_layouts import make_folder, make_lol


def _config(tmp_path, specs):
    path = tmp_path / "diffusion.yaml"
    path.write_text(yaml.safe_dump({"data": {"real_pairs": specs}}))
    return str(path)


def test_counts_every_set(tmp_path, capsys):
    make_lol(tmp_path / "lol")
    make_folder(tmp_path / "mine")
    cfg = _config(tmp_path, [{"name": "lol", "kind": "lol", "root": str(tmp_path / "lol")},
                             {"name": "mine", "kind": "folder", "root": str(tmp_path / "mine")}])
    assert main(["--no-progress", "data", "real-pairs", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "lol" in out and "3 pairs (the standard training split has 485: another subset)" in out
    assert "mine" in out and "checked 6 real pairs in 2 sets" in out


def test_a_bad_file_is_named_and_exits_non_zero(tmp_path, capsys):
    make_lol(tmp_path / "lol")
    (tmp_path / "lol" / "high" / "22.png").write_bytes(b"not an image")
    cfg = _config(tmp_path, [{"name": "lol", "kind": "lol", "root": str(tmp_path / "lol")}])
    assert main(["--no-progress", "data", "real-pairs", "--config", cfg]) == 2
    assert "22.png" in capsys.readouterr().err


def test_a_config_without_real_pairs_is_refused(tmp_path, capsys):
    assert main(["--no-progress", "data", "real-pairs", "--config", _config(tmp_path, None)]) == 2
    assert "no data.real_pairs" in capsys.readouterr().err
