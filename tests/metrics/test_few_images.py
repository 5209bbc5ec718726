"""Fréchet distances on fewer images than feature dimensions are flagged beside their value in the summary entry:
"dims" (feature dimensions) and "few_images" (true when the restored set or a reference set computed in the run has
fewer images than dims; its covariance is then singular). KID entries carry no flag: their estimator needs no
covariance."""

import numpy as np
import pytest

from bfrbench.engine.score_summary import add_set_metrics
from bfrbench.metrics.frechet import feature_stats, sample_size_flags
from bfrbench.metrics.registry import create_metric


class _Store:
    def __init__(self, features):
        self.features = features

    def stacked(self, stems):
        return {k: v[: len(stems)] for k, v in self.features.items()}


def _feats(n, d, seed):
    return np.abs(np.random.default_rng(seed).normal(0, 0.5, (n, d)))


def test_flag_rule():
    assert sample_size_flags(407, 2048) == {"dims": 2048, "few_images": True}  # WebPhoto-Test vs Inception
    assert sample_size_flags(3000, 2048) == {"dims": 2048, "few_images": False}
    assert sample_size_flags(3000, 2048, n_reference=407)["few_images"] is True
    assert sample_size_flags(128, 128, n_reference=128)["few_images"] is False  # n = d: full rank is possible


def test_summary_entries_carry_the_flag(monkeypatch):
    """fid_gt (restored and GT sets of 6 < 2048) and fid_ffhq512 (published 50k statistics; only n counts) through
    the engine's summary code, with fixed features; kid_gt beside them has no flag."""
    from bfrbench.metrics import fid

    # The 2048-d distance is calibrated in test_fid.py; here only the entry's keys matter (and no 2048-d eigh).
    monkeypatch.setattr(fid, "frechet_distance", lambda *stats: 12.5)
    pred, gt = _feats(6, 2048, 0), _feats(6, 2048, 1)
    ffhq = create_metric("fid_ffhq512")
    ffhq._stats = feature_stats(_feats(8, 2048, 2))  # stands in for the published file (test only)
    metrics = {"fid_gt": create_metric("fid_gt"), "fid_ffhq512": ffhq, "kid_gt": create_metric("kid_gt")}
    stores = {"fid_gt": _Store({"pred": pred, "gt": gt}), "fid_ffhq512": _Store({"pred": pred}),
              "kid_gt": _Store({"pred": pred, "gt": gt})}
    summary = {"metrics": {}}
    add_set_metrics(summary, [(str(i), None, None) for i in range(6)], metrics, stores)
    entries = summary["metrics"]
    for name in ("fid_gt", "fid_ffhq512"):
        assert entries[name]["value"] == 12.5 and entries[name]["n"] == 6
        assert entries[name]["dims"] == 2048 and entries[name]["few_images"] is True
    assert entries["fid_gt"]["n_reference"] == 6
    assert "few_images" not in entries["kid_gt"] and "dims" not in entries["kid_gt"]


def test_frechet_dlib_flags_against_128_dimensions():
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    metric = create_metric("frechet_dlib")
    few = metric.compute_from_features({"pred": _feats(20, 128, 3), "gt": _feats(20, 128, 4)})
    assert few["dims"] == 128 and few["few_images"] is True and few["n"] == 20
    enough = metric.compute_from_features({"pred": _feats(200, 128, 5), "gt": _feats(150, 128, 6)})
    assert enough["few_images"] is False
    kid = create_metric("kid_dlib").compute_from_features({"pred": _feats(20, 128, 3), "gt": _feats(20, 128, 4)})
    assert "few_images" not in kid
