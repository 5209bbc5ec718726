"""`bfrbench preflight` and FLIPNET's real degradation pairs: present sets are used (made absolute: the stage runs in
the preflight's folder), absent ones are replaced by a stand-in set the preflight makes, and the note says which."""

from __future__ import annotations

from pathlib import Path

from bfrbench.methods.flipnet.preflight import REAL_PAIRS_STANDIN, preflight_config
from bfrbench.methods.registry import get_method

ROOT = Path(__file__).resolve().parents[3]


def _paper_config():
    from bfrbench.config import load_yaml

    return load_yaml(ROOT / "experiments/flipnet/diffusion_paper.yaml")


def test_paper_config_names_the_four_real_sets():
    sets = _paper_config()["data"]["real_pairs"]
    assert [s["kind"] for s in sets] == ["dense_haze", "lol", "sidd", "realblur"]
    assert all(s["root"].startswith("data/real_pairs/") for s in sets)


def test_absent_sets_are_replaced_by_the_stand_in_and_named(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no data/real_pairs here
    change = preflight_config(get_method("flipnet"), "diffusion", _paper_config(), 64)
    assert change.config["data"]["real_pairs"] == [{"name": "standin_naive", "kind": "folder",
                                                    "root": REAL_PAIRS_STANDIN}]
    note = next(n for n in change.notes if "real degradation pairs absent" in n)
    assert all(name in note for name in ("dense_haze", "lol", "sidd", "realblur_j"))


def test_present_sets_are_used_with_absolute_roots(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = _paper_config()
    for s in cfg["data"]["real_pairs"]:
        (tmp_path / s["root"]).mkdir(parents=True)
    change = preflight_config(get_method("flipnet"), "diffusion", cfg, 64)
    roots = [s["root"] for s in change.config["data"]["real_pairs"]]
    assert roots == [str(tmp_path / s["root"]) for s in cfg["data"]["real_pairs"]]
    assert any("(present)" in n for n in change.notes)
