"""data.lq_per_branch: every sample degraded once per preset branch (CodeFormer stage III's `in` and `in_large_de`)."""

from __future__ import annotations

import numpy as np
import pytest

from bfrbench.data.datamodule import BFRDataModule, DegradedFaces
from bfrbench.data.degradation import DegradationPipeline
from bfrbench.errors import BFRBenchError


@pytest.fixture
def faces(tmp_path):
    from conftest import make_face_set

    return make_face_set(tmp_path / "faces")


def test_each_branch_has_its_own_deterministic_draw(faces):
    from bfrbench.data.faces import face_paths

    pipe = DegradationPipeline.from_config("codeformer_stage3", seed=7)
    data = DegradedFaces(face_paths(faces, "train"), pipe, 32, flip=False, lq_per_branch=True)
    item = data[(0, 3)]
    assert set(item) == {"lq", "lq_b1", "hq", "index"}
    assert not np.array_equal(item["lq"].numpy(), item["lq_b1"].numpy()), "the mild and the large LQ differ"
    again = data[(0, 3)]
    assert all(np.array_equal(item[k].numpy(), again[k].numpy()) for k in ("lq", "lq_b1"))
    assert not np.array_equal(data[(1, 3)]["lq_b1"].numpy(), item["lq_b1"].numpy()), "another epoch, another draw"
    # the large branch's scale range starts at 4: its LQ holds less detail than the mild one on average
    mild = np.mean([np.abs(np.diff(data[(0, i)]["lq"].numpy(), axis=2)).mean() for i in range(8)])
    large = np.mean([np.abs(np.diff(data[(0, i)]["lq_b1"].numpy(), axis=2)).mean() for i in range(8)])
    assert large < mild


def test_batches_carry_both_and_offline_pairs_are_refused(faces, tmp_path):
    dm = BFRDataModule.from_config(faces, 32, 0, {"degradation": {"preset": "codeformer_stage3"}, "batch_size": 2,
                                                  "lq_per_branch": True})
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["lq"].shape == batch["lq_b1"].shape == batch["hq"].shape == (2, 3, 32, 32)
    with pytest.raises(BFRBenchError, match="lq_per_branch and data.extra_pairs"):
        BFRDataModule.from_config(faces, 32, 0, {"lq_per_branch": True, "extra_pairs": str(tmp_path)})
