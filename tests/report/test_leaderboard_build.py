import json

import numpy as np

from bfrbench.io.images import write_image
from bfrbench.report.leaderboard import build_report


def _summary(metrics):
    return {"metrics": metrics}


def test_report_tables_arrows_bold_and_unavailable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = {"profile": "smoke", "size": 16, "methods": ["lq", "good", "ghost"],
              "testsets": {"syn": {"kind": "synthetic"}}, "report": {"grid_images": 2}}
    ts = tmp_path / "artifacts" / "testsets" / "syn"
    for sub in ("lq", "hq"):
        (ts / sub).mkdir(parents=True)
        for i in range(3):
            write_image(ts / sub / f"f{i}.png", np.full((16, 16, 3), 40 * i, np.uint8))
    (ts / "meta.json").write_text(json.dumps({"kind": "synthetic", "count": 3, "size": 16, "has_gt": True,
                                              "preset": "gfpgan", "seed": 1, "source_split": "test"}))
    scores = {
        "lq": {"psnr_rgb": {"value": 20.0, "n": 3}, "ids_dlib": {"value": 0.7, "n": 3},
               "piqe": {"unavailable": "unavailable: pyiqa failed; run pip install pyiqa"},
               "niqe": {"unavailable": "unavailable: weights missing; run bfrbench weights fetch niqe"}},
        "good": {"psnr_rgb": {"value": 25.0, "n": 3}, "ids_dlib": {"value": 0.5, "n": 3},
                 "piqe": {"value": 30.0, "n": 3},
                 "niqe": {"unavailable": "unavailable: weights missing; run bfrbench weights fetch niqe"}},
    }
    for method, metrics in scores.items():
        d = tmp_path / "scores" / method / "syn"
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps(_summary(metrics)))
    # the restore's speed figures (results/METHOD/TESTSET.restore.json): s/img and NFE beside the quality columns
    (tmp_path / "results" / "good").mkdir(parents=True)
    meta = {"seconds_per_image": 0.07, "nfe": 21.0}
    (tmp_path / "results" / "good" / "syn.restore.json").write_text(json.dumps(meta))
    written = build_report(params, tmp_path / "reports")
    md = written["markdown"].read_text()
    # niqe has no number for any method: no column, but its reason is listed; piqe has one: its column stays.
    assert "| method | psnr_rgb ↑ | ids_dlib ↓ | piqe ↓ | s/img ↓ | NFE |" in md
    assert "| good | **25.00** | **0.5000** | 30.00 | 0.0700 | 21 |" in md
    assert "| lq | 20.00 | 0.7000 | unavailable | n/a | n/a |" in md
    assert "s/img: device-seconds per image" in md
    assert "- niqe (all methods): unavailable: weights missing" in md and "- piqe (lq): unavailable: pyiqa" in md
    assert "**niqe**" in md, "the protocol of a metric without a column is still given"
    assert "ghost" in md and "not found" in md, "a missing score is reported, not skipped"
    assert "weights missing" in md
    assert "## Protocols" in md and "BasicSR" in md
    assert (tmp_path / "reports" / "grid_syn.png").is_file()
    html = written["html"].read_text()
    assert "<b>25.00</b>" in html and "grid_syn.png" in html
