import numpy as np
import pytest

from bfrbench.data.datamodule import BFRDataModule
from bfrbench.errors import BFRBenchError
from bfrbench.io.images import write_image


def _pairs(root, n=3, size=32):
    rng = np.random.default_rng(0)
    for sub in ("lq", "hq"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        write_image(root / "lq" / f"f{i}_v0.png", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        write_image(root / "hq" / f"f{i}_v0.png", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return root


def test_extra_pairs_are_appended_to_the_online_draws(tiny_faces, tmp_path):
    from bfrbench.data.tensors import to_tensor
    from bfrbench.io.images import read_image

    root = _pairs(tmp_path / "flip")
    deg = {"preset": "codeformer_stage2", "blur_sigma": [0.25, 2.0], "scale": [1.0, 4.0]}
    plain = BFRDataModule(tiny_faces, 32, deg, 0, batch_size=4, flip=False)
    plain.setup("fit")
    mixed = BFRDataModule(tiny_faces, 32, deg, 0, batch_size=4, flip=False, extra_pairs=str(root))
    mixed.setup("fit")
    n = len(plain.train_set)
    assert len(mixed.train_set) == n + 3
    item = mixed.train_set[(0, n + 1)]
    assert np.array_equal(item["lq"].numpy(), to_tensor(read_image(root / "lq" / "f1_v0.png")).numpy())
    assert np.array_equal(mixed.train_set[(0, 2)]["lq"].numpy(), plain.train_set[(0, 2)]["lq"].numpy())


def test_extra_pairs_folder_must_hold_lq_and_hq(tiny_faces, tmp_path):
    (tmp_path / "bad").mkdir()
    dm = BFRDataModule(tiny_faces, 32, "codeformer_stage2", 0, extra_pairs=str(tmp_path / "bad"))
    with pytest.raises(BFRBenchError, match="lq/ and hq/"):
        dm.setup("fit")


def test_plus_of_work_folder_follows_the_pairs_bytes(tmp_path):
    from bfrbench.training.stage import folder_fingerprint

    root = _pairs(tmp_path / "flip")
    before = folder_fingerprint(root)
    assert folder_fingerprint(root) == before
    write_image(root / "lq" / "f0_v0.png", np.zeros((32, 32, 3), np.uint8))
    assert folder_fingerprint(root) != before


def test_plus_of_needs_extra_pairs(tiny_faces, tmp_path):
    from bfrbench.methods.base import StageContext
    from bfrbench.methods.registry import get_method

    m = get_method("unet_l1_of")
    ctx = StageContext("unet_l1_of", "train", {"data": {}}, {}, tiny_faces, tmp_path / "o", tmp_path, 0, 32)
    with pytest.raises(BFRBenchError, match="extra_pairs"):
        from bfrbench.training.stage import run_stage

        run_stage(m, ctx)
