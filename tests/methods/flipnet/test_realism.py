import json

import numpy as np
import pytest

from bfrbench.errors import BFRBenchError
from bfrbench.io.images import write_image
from bfrbench.stages.realism import measure_realism


def _set(folder, face, noise, n=4, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        img = np.clip(face.astype(float) + rng.normal(0, noise, face.shape), 0, 255).astype(np.uint8)
        write_image(folder / f"f{i}.png", img)


def test_realism_scores_each_synthetic_set_against_the_real_one(real_face, tmp_path):
    _set(tmp_path / "real", real_face, 20, seed=0)
    for name, noise, seed in (("naive", 2, 1), ("flipnet", 20, 2)):
        _set(tmp_path / "deg" / name / "lq", real_face, noise, seed=seed)
        (tmp_path / "deg" / name / "meta.json").write_text(json.dumps({"source": name, "count": 4}))
    cfg = {"real_lq": str(tmp_path / "real"), "realism_metrics": ["frechet_dlib", "niqe"]}
    s = measure_realism(cfg, tmp_path / "deg", tmp_path / "out")
    assert set(s["sets"]) == {"real/real", "naive", "flipnet"} and s["metrics"] == ["frechet_dlib@real", "niqe"]
    assert "frechet_dlib@real" not in s["sets"]["real/real"] and "niqe" in s["sets"]["real/real"]
    for name in ("naive", "flipnet"):
        assert s["sets"][name]["frechet_dlib@real"]["value"] >= 0
    flat = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "flipnet/frechet_dlib@real" in flat
    with pytest.raises(BFRBenchError):  # nothing overwritten without --overwrite
        measure_realism(cfg, tmp_path / "deg", tmp_path / "out")


def test_several_real_sets_each_a_column_and_a_row(real_face, tmp_path):
    """The paper's setting: LFW, WIDER and WebPhoto; every distance against each, the real sets against each other."""
    from bfrbench.report.flipnet_tables import realism_section

    reals = {}
    for i, name in enumerate(("lfw_test", "wider_test")):
        _set(tmp_path / name, real_face, 10 + 10 * i, seed=10 + i)
        reals[name] = str(tmp_path / name)
    for name, noise, seed in (("naive", 2, 1), ("flipnet", 20, 2)):
        _set(tmp_path / "deg" / name / "lq", real_face, noise, seed=seed)
        (tmp_path / "deg" / name / "meta.json").write_text(json.dumps({"source": name, "count": 4}))
    cfg = {"real_lq": reals, "realism_metrics": ["frechet_dlib", "kid_dlib", "niqe"]}
    s = measure_realism(cfg, tmp_path / "deg", tmp_path / "out")
    assert s["metrics"] == ["frechet_dlib@lfw_test", "frechet_dlib@wider_test", "kid_dlib@lfw_test",
                            "kid_dlib@wider_test", "niqe"]
    assert set(s["sets"]) == {"real/lfw_test", "real/wider_test", "naive", "flipnet"}
    assert set(s["sets"]["real/lfw_test"]) == {"frechet_dlib@wider_test", "kid_dlib@wider_test", "niqe"}
    assert all(set(s["sets"][n]) == set(s["metrics"]) for n in ("naive", "flipnet"))
    md, _ = realism_section(tmp_path / "out" / "summary.json")
    text = "\n".join(md)
    assert "frechet_dlib ↓ to lfw_test" in text and "| real LQ: wider_test |" in text


def test_real_lq_must_be_a_folder_or_a_mapping(tmp_path):
    from bfrbench.errors import ConfigError

    with pytest.raises(ConfigError, match="real_lq"):
        measure_realism({"real_lq": ["a", "b"], "realism_metrics": ["niqe"]}, tmp_path, tmp_path / "out")
