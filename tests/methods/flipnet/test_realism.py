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
    assert set(s["sets"]) == {"real", "naive", "flipnet"}
    assert "frechet_dlib" not in s["sets"]["real"] and "niqe" in s["sets"]["real"]
    for name in ("naive", "flipnet"):
        assert s["sets"][name]["frechet_dlib"]["value"] >= 0
    flat = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "flipnet/frechet_dlib" in flat
    with pytest.raises(BFRBenchError):  # nothing overwritten without --overwrite
        measure_realism(cfg, tmp_path / "deg", tmp_path / "out")
