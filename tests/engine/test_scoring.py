"""score_folders: one pass over the images, pairing by stem, atomic outputs, resume, no-GT mode."""

import csv
import json

import cv2
import numpy as np
import pytest

from bfrbench.engine import scoring
from bfrbench.engine.scoring import NOT_APPLICABLE_NO_GT, PARTIAL_CSV, PARTIAL_META, score_folders
from bfrbench.errors import BFRBenchError, ImageError, PairingError
from bfrbench.io.images import read_image, write_image
from bfrbench.metrics.registry import create_metric, metric_names

PIXEL_METRICS = ["psnr_rgb", "psnr_y", "ssim_rgb", "ssim_y"]


def make_pair_folders(root, n=6, size=(40, 48), seed=7):
    rng = np.random.default_rng(seed)
    pred_dir, gt_dir = root / "pred", root / "gt"
    for i in range(n):
        coarse = rng.random((size[0] // 8, size[1] // 8, 3)) * 255
        gt = np.clip(cv2.resize(coarse, (size[1], size[0]), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
        pred = np.clip(gt + rng.normal(0, 6, gt.shape), 0, 255).astype(np.uint8)
        write_image(gt_dir / f"img_{i}.png", gt)
        write_image(pred_dir / f"img_{i}.png", pred)
    return pred_dir, gt_dir


@pytest.fixture
def folders(tmp_path):
    return make_pair_folders(tmp_path)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def run(pred_dir, gt_dir, out_dir, **kw):
    kw.setdefault("metrics", PIXEL_METRICS)
    kw.setdefault("progress", False)
    return score_folders(pred_dir, gt_dir, out_dir=out_dir, **kw)


def test_outputs_match_direct_scoring(folders, tmp_path):
    pred_dir, gt_dir = folders
    out = tmp_path / "scores"
    summary = run(pred_dir, gt_dir, out, batch_size=4)

    rows = read_csv(out / "per_image.csv")
    assert rows[0] == ["stem", *PIXEL_METRICS]
    assert [r[0] for r in rows[1:]] == [f"img_{i}" for i in range(6)]
    preds = np.stack([read_image(pred_dir / f"img_{i}.png") for i in range(6)])
    gts = np.stack([read_image(gt_dir / f"img_{i}.png") for i in range(6)])
    for j, name in enumerate(PIXEL_METRICS):
        direct = create_metric(name).score_batch(preds, gts)
        assert [float(r[1 + j]) for r in rows[1:]] == direct.tolist()
        assert summary["metrics"][name]["value"] == pytest.approx(direct.mean(), rel=1e-12)

    on_disk = json.loads((out / "summary.json").read_text())
    entry = on_disk["metrics"]["psnr_y"]
    assert entry["n"] == 6 and entry["direction"] == "higher is better" and entry["unit"] == "dB"
    assert entry["range"] == [0.0, "inf"] and "YCbCr" in entry["protocol"]
    assert on_disk["n_images"] == 6 and on_disk["gt_dir"] == str(gt_dir.resolve())
    assert {"numpy", "cv2", "python", "bfrbench"} <= set(on_disk["versions"]) and "created" not in on_disk
    assert not (out / PARTIAL_CSV).exists() and not (out / PARTIAL_META).exists()


def test_batch_size_does_not_change_results(folders, tmp_path):
    pred_dir, gt_dir = folders
    run(pred_dir, gt_dir, tmp_path / "a", batch_size=1)
    run(pred_dir, gt_dir, tmp_path / "b", batch_size=5)
    assert (tmp_path / "a/per_image.csv").read_bytes() == (tmp_path / "b/per_image.csv").read_bytes()


def test_default_metrics_with_gt_are_all_registered(folders, tmp_path):
    pred_dir, gt_dir = folders
    summary = score_folders(pred_dir, gt_dir, out_dir=tmp_path / "s", progress=False)
    assert list(summary["metrics"]) == metric_names()
    # Each metric has a value or says why not (FID without its weights: "unavailable: ...; run ...").
    assert all("value" in e or e["unavailable"].startswith("unavailable: ") for e in summary["metrics"].values())
    # Set-level metrics (FID, frechet_dlib) have no per-image column.
    per_image = [n for n, e in summary["metrics"].items() if "value" in e and n not in summary["set_level_metrics"]]
    assert read_csv(tmp_path / "s/per_image.csv")[0] == ["stem", *per_image]


def test_no_gt_skips_full_reference_metrics_with_a_reason(folders, tmp_path):
    pred_dir, _ = folders
    summary = score_folders(pred_dir, out_dir=tmp_path / "s", progress=False)
    for name in metric_names(full_reference=True):
        assert summary["metrics"][name] == {"unavailable": NOT_APPLICABLE_NO_GT}
    assert summary["gt_dir"] is None and summary["n_images"] == 6
    rows = read_csv(tmp_path / "s/per_image.csv")
    # Columns: exactly the no-reference per-image metrics that can run here (the others say why they did not).
    scored = [n for n in metric_names(full_reference=False) if "value" in summary["metrics"][n]
              and summary["metrics"][n].get("level") != "set"]
    assert rows[0] == ["stem", *scored] and len(rows) == 7
    assert "piqe" in scored  # needs no weights: always runs
    for name in metric_names(full_reference=False):
        entry = summary["metrics"][name]
        assert "value" in entry or entry["unavailable"].startswith("unavailable:"), (name, entry)
    explicit = score_folders(pred_dir, metrics=["psnr_rgb"], progress=False)
    assert explicit["metrics"] == {"psnr_rgb": {"unavailable": NOT_APPLICABLE_NO_GT}}


def test_unpaired_images_are_named(folders, tmp_path):
    pred_dir, gt_dir = folders
    (gt_dir / "img_3.png").rename(gt_dir / "other.png")
    with pytest.raises(PairingError) as info:
        run(pred_dir, gt_dir, tmp_path / "s")
    assert "img_3.png" in str(info.value) and "other.png" in str(info.value)


def test_duplicate_stems_are_named(folders, tmp_path):
    pred_dir, gt_dir = folders
    cv2.imwrite(str(pred_dir / "img_2.jpg"), np.zeros((40, 48, 3), np.uint8))
    with pytest.raises(PairingError) as info:
        run(pred_dir, gt_dir, tmp_path / "s")
    assert "img_2.jpg" in str(info.value) and "img_2.png" in str(info.value)


def test_size_mismatch_names_both_files(folders, tmp_path):
    pred_dir, gt_dir = folders
    write_image(pred_dir / "img_4.png", np.zeros((80, 96, 3), np.uint8))
    with pytest.raises(ImageError) as info:
        run(pred_dir, gt_dir, tmp_path / "s")
    message = str(info.value)
    assert str(pred_dir / "img_4.png") in message and str(gt_dir / "img_4.png") in message and "96x80" in message


def test_expected_size_is_enforced(folders, tmp_path):
    pred_dir, gt_dir = folders
    with pytest.raises(ImageError, match="expected 64x64"):
        run(pred_dir, gt_dir, tmp_path / "s", expected_size=64)


def test_images_of_different_sizes_are_scored(folders, tmp_path):
    pred_dir, gt_dir = folders
    big_gt = np.full((64, 64, 3), 100, np.uint8)
    write_image(gt_dir / "img_9.png", big_gt)
    write_image(pred_dir / "img_9.png", big_gt + 2)
    summary = run(pred_dir, gt_dir, tmp_path / "s", batch_size=8)
    assert summary["metrics"]["psnr_rgb"]["n"] == 7
    last = read_csv(tmp_path / "s/per_image.csv")[-1]
    assert last[0] == "img_9" and float(last[1]) == pytest.approx(10 * np.log10(255**2 / 4))


def test_identical_images_write_inf_explicitly(folders, tmp_path):
    _, gt_dir = folders
    summary = run(gt_dir, gt_dir, tmp_path / "s", metrics=["psnr_rgb"])
    assert summary["metrics"]["psnr_rgb"]["value"] == float("inf")
    on_disk = json.loads((tmp_path / "s/summary.json").read_text())["metrics"]["psnr_rgb"]
    assert on_disk["value"] == "inf" and on_disk["n_inf"] == 6 and on_disk["mean_finite"] == "nan"
    assert {r[1] for r in read_csv(tmp_path / "s/per_image.csv")[1:]} == {"inf"}


def test_unknown_metric_is_a_user_error(folders, tmp_path):
    pred_dir, gt_dir = folders
    with pytest.raises(BFRBenchError, match="unknown metric 'psnr'"):
        run(pred_dir, gt_dir, tmp_path / "s", metrics=["psnr"])


def test_resume_gives_the_same_output_as_one_run(folders, tmp_path, monkeypatch):
    pred_dir, gt_dir = folders
    run(pred_dir, gt_dir, tmp_path / "whole", batch_size=2)

    real = scoring._score_batch
    calls = []

    def crash_on_second_batch(batch, *args):
        calls.append([stem for stem, _, _ in batch])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(batch, *args)

    monkeypatch.setattr(scoring, "_score_batch", crash_on_second_batch)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run(pred_dir, gt_dir, out, batch_size=2)
    assert not (out / "per_image.csv").exists()
    with open(out / PARTIAL_CSV, "a") as f:
        f.write("img_2,12.5")  # a line cut short by the crash: must be ignored
    calls.clear()
    monkeypatch.setattr(scoring, "_score_batch", lambda batch, *a: calls.append(len(batch)) or real(batch, *a))
    run(pred_dir, gt_dir, out, batch_size=3)

    assert sum(calls) == 4  # img_0 and img_1 were not scored again
    assert (out / "per_image.csv").read_bytes() == (tmp_path / "whole/per_image.csv").read_bytes()
    whole = json.loads((tmp_path / "whole/summary.json").read_text())
    resumed = json.loads((out / "summary.json").read_text())
    assert "created" not in whole and "created" not in resumed
    assert resumed == whole
    assert not (out / PARTIAL_CSV).exists()


def test_partial_from_other_settings_is_not_reused(folders, tmp_path, monkeypatch):
    pred_dir, gt_dir = folders
    out = tmp_path / "s"
    out.mkdir()
    (out / PARTIAL_META).write_text("{}")
    (out / PARTIAL_CSV).write_text("stem,psnr_rgb\nimg_0,99.0\n")
    run(pred_dir, gt_dir, out, metrics=["psnr_rgb"])
    assert float(read_csv(out / "per_image.csv")[1][1]) != 99.0
    run(pred_dir, gt_dir, tmp_path / "fresh", metrics=["psnr_rgb"], resume=False)
    assert (out / "per_image.csv").read_bytes() == (tmp_path / "fresh/per_image.csv").read_bytes()


def test_summary_folders_are_relative_inside_the_working_directory(tmp_path, monkeypatch):
    """A DVC score stage runs at the repository root: its summary.json holds no absolute path (the same bytes in
    every clone); a folder outside the working directory stays absolute."""
    from bfrbench.engine.score_summary import where

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "m").mkdir(parents=True)
    assert where("results/m") == "results/m" and where(tmp_path / "results" / "m") == "results/m"
    assert where(tmp_path.parent) == str(tmp_path.parent.resolve())
