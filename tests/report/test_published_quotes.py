"""Published tables (YAML data in the package) appear beside the suite's rows only on the test sets they were measured
on, clearly marked as quoted; a published column sits next to a suite column only when their protocols match by
name."""

import json
from pathlib import Path

import numpy as np
import pytest

from bfrbench.io.images import write_image
from bfrbench.report.leaderboard import build_report
from bfrbench.report.published import DOC, _check, published_tables, quoted_tables

ROOT = Path(__file__).resolve().parents[2]


def _testset(root, name, meta):
    ts = root / "artifacts" / "testsets" / name
    for sub in ("lq", "hq"):
        (ts / sub).mkdir(parents=True)
        write_image(ts / sub / "a.png", np.full((16, 16, 3), 90, np.uint8))
    (ts / "meta.json").write_text(json.dumps(meta))


def _table(file):
    return next(t for t in published_tables() if t["file"] == file)


def test_quoted_table_only_on_celeba_test_with_matching_suite_columns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = {"profile": "paper", "size": 16, "methods": ["lq", "difface", "codeformer"],
              "testsets": {"celeba_test": {}, "syn": {}}, "report": {"grid_images": 1}}
    _testset(tmp_path, "celeba_test", {"kind": "folder", "count": 1, "size": 16, "has_gt": True, "lq": "x", "hq": "y"})
    _testset(tmp_path, "syn", {"kind": "synthetic", "count": 1, "size": 16, "has_gt": True, "preset": "gfpgan"})
    for method in params["methods"]:
        for ts in ("celeba_test", "syn"):
            d = tmp_path / "scores" / method / ts
            d.mkdir(parents=True)
            metrics = {"psnr_rgb": {"value": 20.0 + len(method), "n": 1}, "ssim_rgb": {"value": 0.5, "n": 1}}
            (d / "summary.json").write_text(json.dumps({"metrics": metrics}))
    written = build_report(params, tmp_path / "reports")
    md = written["markdown"].read_text()
    celeba, syn = md.split("## celeba_test")[1].split("## syn")
    # PSNR's protocol matches psnr_rgb by name: its suite column follows; SSIM's (pyiqa clamps) does not
    assert "| published method (quoted) | suite row | PSNR ↑ | suite psnr_rgb | SSIM ↑ | LPIPS ↓ | suite lpips_alex |" \
        in celeba
    assert "| DifFace (quoted) | difface | 23.44 | 27.00 | 0.690 | 0.461 | - | 64.94 | 6.06 | - | 20.29 | - |" in celeba
    assert "| DR2 (quoted) | - | 21.69 | - | 0.661 |" in celeba
    assert "QUOTED" in celeba and "secondary source" in celeba and "TPAMI 2024" in celeba
    assert "(quoted)" not in syn
    assert "DifFace (quoted)" in written["html"].read_text()


def test_real_set_tables_follow_their_test_sets():
    md, _ = quoted_tables("wider_test", {"kind": "real"}, ["difface"])
    assert "| DifFace (quoted) | difface | 37.52 |" in "\n".join(md)
    md, _ = quoted_tables("lfw_test", {"kind": "real"}, ["codeformer"])
    assert "| CodeFormer (quoted) | codeformer | 48.50 |" in "\n".join(md)
    assert quoted_tables("webphoto_test", {"kind": "real"}, ["difface"]) == ([], "")
    md, _ = quoted_tables("mine", {"description": "CelebA-Test (3,000 CelebA-HQ faces)"}, [])
    assert "| DifFace (quoted) | - |" in "\n".join(md)


@pytest.mark.parametrize("change, needle", [
    (lambda d: d.pop("source"), "expected the keys"),
    (lambda d: d.update(source="tertiary"), "primary or secondary"),
    (lambda d: d["columns"][0].update(suite_metric="psnr_nope"), "no suite metric 'psnr_nope'"),
    (lambda d: d["rows"]["DifFace"]["values"].pop(), "has 5 values for 6 columns"),
])
def test_a_malformed_table_is_refused(change, needle):
    import copy

    from bfrbench.errors import ConfigError

    doc = copy.deepcopy({k: v for k, v in _table("difface_tpami2024_celeba_test.yaml").items() if k != "file"})
    change(doc)
    with pytest.raises(ConfigError, match=needle):
        _check("x.yaml", doc)


def test_the_doc_the_report_cites_holds_the_quoted_numbers():
    """docs/metrics.md transcribes the CelebA-Test table with the same numbers as the data file."""
    doc = (ROOT / DOC).read_text(encoding="utf-8")
    table = _table("difface_tpami2024_celeba_test.yaml")
    for published, row in table["rows"].items():
        ours = row["suite_method"]
        numbers = " | ".join(f"{v:.3f}" if v < 1 else f"{v:.2f}" for v in row["values"])
        line = f"| {published} | {f'`{ours}`' if ours else '-'} | {numbers}"
        assert line + " |" in doc, line
