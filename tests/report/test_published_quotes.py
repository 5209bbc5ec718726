"""Published CelebA-Test numbers appear beside the suite's rows only on CelebA-Test, clearly marked as quoted."""

import json

import numpy as np

from bfrbench.io.images import write_image
from bfrbench.report.leaderboard import build_report
from bfrbench.report.published import CELEBA_TEST, DOC, quoted_tables


def _testset(root, name, meta):
    ts = root / "artifacts" / "testsets" / name
    for sub in ("lq", "hq"):
        (ts / sub).mkdir(parents=True)
        write_image(ts / sub / "a.png", np.full((16, 16, 3), 90, np.uint8))
    (ts / "meta.json").write_text(json.dumps(meta))


def test_quoted_table_only_on_celeba_test(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = {"profile": "paper", "size": 16, "methods": ["lq", "difface", "codeformer"],
              "testsets": {"celeba_test": {}, "syn": {}}, "report": {"grid_images": 1}}
    _testset(tmp_path, "celeba_test", {"kind": "folder", "count": 1, "size": 16, "has_gt": True, "lq": "x", "hq": "y"})
    _testset(tmp_path, "syn", {"kind": "synthetic", "count": 1, "size": 16, "has_gt": True, "preset": "gfpgan"})
    for method in params["methods"]:
        for ts in ("celeba_test", "syn"):
            d = tmp_path / "scores" / method / ts
            d.mkdir(parents=True)
            (d / "summary.json").write_text(json.dumps({"metrics": {"psnr_rgb": {"value": 20.0, "n": 1}}}))
    written = build_report(params, tmp_path / "reports")
    md = written["markdown"].read_text()
    celeba, syn = md.split("## celeba_test")[1].split("## syn")
    assert "| DifFace (quoted) | difface | 23.44 | 0.690 | 0.461 | 64.94 | 6.06 | 20.29 |" in celeba
    assert "| CodeFormer (quoted) | codeformer | 22.70 |" in celeba
    assert "| DR2 (quoted) | - |" in celeba and "QUOTED" in celeba and "DifFace journal" in celeba
    assert "(quoted)" not in syn
    assert "DifFace (quoted)" in written["html"].read_text()


def test_quotes_follow_the_protocols_note():
    assert CELEBA_TEST["GFPGAN"][1] == (21.25, 0.615, 0.532, 73.49, 12.26, 68.61)
    assert quoted_tables("lfw_test", {"kind": "real"}, ["difface"]) == ([], "")
    md, _ = quoted_tables("mine", {"description": "CelebA-Test (3,000 CelebA-HQ faces)"}, [])
    assert md and "| DifFace (quoted) | - |" in "\n".join(md)


def test_the_doc_the_report_cites_holds_the_quoted_numbers():
    """The leaderboard tells readers where the quotes are transcribed: that file is in the repository and agrees."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / DOC).read_text(encoding="utf-8")
    for published, (ours, values) in CELEBA_TEST.items():
        numbers = " | ".join(f"{v:.3f}" if v < 1 else f"{v:.2f}" for v in values)
        row = f"| {published} | {f'`{ours}`' if ours else '-'} | {numbers}"
        assert row + " |" in doc, row
