import json

from bfrbench.report.flipnet_tables import (
    flipnet_sections,
    plus_of_section,
    realism_section,
)


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_realism_table_lists_every_set_and_says_why_a_metric_is_missing(tmp_path):
    summary = {"real_lq": "artifacts/faces/real_lq", "metrics": ["frechet_dlib", "niqe"],
               "meta": {"naive": {"source": "naive pipeline", "count": 4},
                        "flipnet": {"source": "FLIPNET", "count": 4}},
               "sets": {"real": {"niqe": {"value": float("nan"), "n": 0, "n_nan": 4}},
                        "naive": {"frechet_dlib": {"value": 0.2}, "niqe": {"unavailable": "unavailable: x; run y"}},
                        "flipnet": {"frechet_dlib": {"value": 0.1}, "niqe": {"value": 6.5}}}}
    _write(tmp_path / "s.json", summary)
    md, page = realism_section(tmp_path / "s.json")
    text = "\n".join(md)
    assert "| FLIPNET degradation mode | 0.1000 | 6.5000 |" in text
    assert "| naive pipeline | 0.2000 | unavailable |" in text
    assert "undefined (n_nan 4)" in text and "unavailable: x; run y" in text and "<table>" in page
    md, _ = realism_section(tmp_path / "missing.json")
    assert "not found" in "\n".join(md)


def test_plus_o_vs_plus_of_reads_both_models_scores(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "artifacts/testsets/syn/meta.json", {"has_gt": True, "kind": "synthetic"})
    _write(tmp_path / "artifacts/testsets/real/meta.json", {"has_gt": False, "kind": "real"})
    _write(tmp_path / "scores/unet_l1/syn/summary.json", {"metrics": {"psnr_rgb": {"value": 22.5}}})
    _write(tmp_path / "scores/unet_l1_of/syn/summary.json", {"metrics": {"psnr_rgb": {"value": 23.25}}})
    params = {"testsets": {"syn": {}, "real": {}}, "methods": ["unet_l1", "unet_l1_of"],
              "score": {"metrics": ["psnr_rgb", "ssim_rgb"]}, "flipnet": {}}
    from pathlib import Path

    md, _ = plus_of_section(params, Path("scores"))
    text = "\n".join(md)
    assert "| +O (unet_l1) | 22.50 |" in text and "| +O/F (unet_l1_of) | 23.25 |" in text
    assert "real" not in [line.split("|")[1].strip() for line in md if line.startswith("| ")]
    assert flipnet_sections({"testsets": {}, "methods": []}) == ([], "")


def test_realism_says_which_data_trained_the_degradation_mode(tmp_path):
    from bfrbench.report.flipnet_tables import degradation_training_data

    card = tmp_path / "flipnet" / "diffusion" / "card.json"
    assert "not found" in degradation_training_data(tmp_path)
    _write(card, {"config": {"data": {"degradation": {"preset": "codeformer_stage2"}, "real_pairs": None}}})
    assert "naive pipeline's pairs (preset `codeformer_stage2`)" in degradation_training_data(tmp_path)
    _write(card, {"config": {"data": {"real_pairs": [{"name": "lol", "kind": "lol", "root": "x"},
                                                     {"name": "sidd", "kind": "sidd", "root": "y"}]}},
                  "final_metrics": {"train/real_pairs_seen/lol": 1200.0, "train/real_pairs_seen/sidd": 400.0}})
    text = degradation_training_data(tmp_path)
    assert "real degraded/clean pairs: lol (lol, 1,200 pairs seen), sidd (sidd, 400 pairs seen)" in text
