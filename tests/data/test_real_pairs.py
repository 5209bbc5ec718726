"""Real (degraded, clean) pair sets: every layout pairs by the dataset's own names, crops are aligned and keyed by
(seed, epoch, index).

Every pair is written with its own random hq and lq = 255 - hq, and each key's images are compared with the ones
written for it: a pair read by sorted position, or with lq and hq swapped, fails."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from bfrbench.data.real_pairs import KINDS, RealPairs, read_pairs, read_sets
from bfrbench.errors import BFRBenchError, ConfigError
from bfrbench.io.images import write_image
from real_pair_layouts import (
    BUILDERS,
    REALBLUR_DIR,
    H,
    W,
    _check,
    _hq,
    _spec,
    _write_pair,
    make_dense_haze,
    make_folder,
    make_lol,
    make_realblur,
    make_sidd,
)

# --- readers -------------------------------------------------------------------------------------------------------


def test_every_kind_has_a_builder():
    assert set(BUILDERS) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_reader_pairs_by_the_datasets_names(kind, tmp_path):
    written = BUILDERS[kind](tmp_path / kind)
    pairs = read_pairs(_spec(kind, tmp_path / kind))
    _check(pairs, written)
    assert {p.set_name for p in pairs} == {kind}


def test_realblur_keys_lq_is_blur_whatever_the_column(tmp_path):
    make_realblur(tmp_path)
    pairs = read_pairs(_spec("realblur", tmp_path))
    assert [p.key for p in pairs] == ["scene001/10", "scene001/2", "scene230/3"]
    assert all(p.lq.parent.name == "blur" and p.hq.parent.name == "gt" for p in pairs)


def test_realblur_list_chosen_explicitly(tmp_path):
    make_realblur(tmp_path)
    (tmp_path / "mine.txt").write_text(f"{REALBLUR_DIR}/scene230/blur/blur_3.png {REALBLUR_DIR}/scene230/gt/gt_3.png\n")
    pairs = read_pairs(_spec("realblur", tmp_path, list="mine.txt"))
    assert [p.key for p in pairs] == ["scene230/3"]


def test_sidd_small_names_and_root_being_data(tmp_path):
    written = make_sidd(tmp_path / "SIDD_Small_sRGB_Only" / "Data", medium=False)
    for root in (tmp_path / "SIDD_Small_sRGB_Only", tmp_path / "SIDD_Small_sRGB_Only" / "Data"):
        _check(read_pairs(_spec("sidd", root)), written)


def test_sidd_medium_root_holding_data(tmp_path):
    written = make_sidd(tmp_path / "SIDD_Medium_Srgb" / "Data")
    _check(read_pairs(_spec("sidd", tmp_path / "SIDD_Medium_Srgb")), written)


def test_dense_haze_accepts_jpeg_and_lower_case_gt_folder(tmp_path):
    (tmp_path / "hazy").mkdir()
    (tmp_path / "gt").mkdir()
    write_image(tmp_path / "hazy" / "07_hazy.jpg", _hq(1))
    write_image(tmp_path / "gt" / "07_GT.JPEG", _hq(2))
    pairs = read_pairs(_spec("dense_haze", tmp_path))
    assert [(p.key, p.lq.name, p.hq.name) for p in pairs] == [("07", "07_hazy.jpg", "07_GT.JPEG")]


def test_read_sets_in_spec_order(tmp_path):
    make_lol(tmp_path / "lol")
    make_folder(tmp_path / "folder")
    sets = read_sets([_spec("folder", tmp_path / "folder", "f"), _spec("lol", tmp_path / "lol", "l")])
    assert [s[0].set_name for s in sets] == ["f", "l"] and [len(s) for s in sets] == [3, 3]


# --- errors --------------------------------------------------------------------------------------------------------


def _fails(spec, *needles, where="data.real_pairs", cls=BFRBenchError):
    with pytest.raises(cls) as err:
        read_pairs(spec, where)
    text = str(err.value)
    for needle in needles:
        assert needle in text, text
    assert err.value.fix, text
    return text


@pytest.mark.parametrize("spec,needle", [
    (["dense_haze", "/data"], "expected a mapping"),
    ({"kind": "lol", "root": "/data"}, "name"),
    ({"name": "x", "root": "/data"}, "kind"),
    ({"name": "x", "kind": "lol"}, "root"),
    ({"name": "x", "kind": "gopro", "root": "/data"}, "gopro"),
    ({"name": "x", "kind": "lol", "root": "/data", "lst": "a.txt"}, "lst"),
    ({"name": "x", "kind": "lol", "root": "/data", "list": "a.txt"}, "list"),
])
def test_bad_spec_is_a_config_error(spec, needle):
    text = _fails(spec, needle, "data.real_pairs[2]", where="data.real_pairs[2]", cls=ConfigError)
    if needle == "gopro":
        assert all(kind in text for kind in KINDS)


def test_duplicate_set_names_refused(tmp_path):
    make_lol(tmp_path / "lol")
    make_folder(tmp_path / "folder")
    with pytest.raises(ConfigError, match=r"data.real_pairs\[1\].*'same'.*data.real_pairs\[0\]"):
        read_sets([_spec("lol", tmp_path / "lol", "same"), _spec("folder", tmp_path / "folder", "same")])


@pytest.mark.parametrize("kind", KINDS)
def test_missing_root_named(kind, tmp_path):
    _fails(_spec(kind, tmp_path / "nowhere_root"), "nowhere_root", f"data.real_pairs ({kind})")


@pytest.mark.parametrize("kind,remove", [("dense_haze", "GT"), ("lol", "high"), ("folder", "lq")])
def test_missing_sub_folder_named(kind, remove, tmp_path):
    BUILDERS[kind](tmp_path)
    for path in (tmp_path / remove).iterdir():
        path.unlink()
    (tmp_path / remove).rmdir()
    _fails(_spec(kind, tmp_path), str(tmp_path / remove), f"({kind})")


@pytest.mark.parametrize("kind,remove,named", [
    ("dense_haze", "GT/02_GT.png", "02_hazy.PNG"),  # a gap in GT: an error, never a shift of the later pairs
    ("dense_haze", "hazy/05_hazy.png", "05_GT.PNG"),
    ("lol", "high/22.png", "22.png"),
    ("lol", "low/100.png", "100.png"),
    ("folder", "hq/a.png", "a.png"),
    ("sidd", "0002_001_S6_00100_00020_3200_N/0002_GT_SRGB_011.PNG", "0002_NOISY_SRGB_011.PNG"),
    ("sidd", "0001_001_S6_00100_00060_3200_L/0001_NOISY_SRGB_010.PNG", "0001_GT_SRGB_010.PNG"),
])
def test_unpaired_file_named(kind, remove, named, tmp_path):
    BUILDERS[kind](tmp_path)
    (tmp_path / remove).unlink()
    text = _fails(_spec(kind, tmp_path), named, "no ")
    assert "partner" in text


def test_dense_haze_badly_named_file(tmp_path):
    make_dense_haze(tmp_path)
    write_image(tmp_path / "GT" / "06_clean.png", _hq(9))
    _fails(_spec("dense_haze", tmp_path), "06_clean.png", "NN_GT")


def test_sidd_file_neither_noisy_nor_gt(tmp_path):
    make_sidd(tmp_path)
    write_image(tmp_path / "0001_001_S6_00100_00060_3200_L" / "0001_METADATA_SRGB_010.PNG", _hq(9))
    _fails(_spec("sidd", tmp_path), "0001_METADATA_SRGB_010.PNG")


def test_duplicate_keys_named(tmp_path):
    make_dense_haze(tmp_path)
    write_image(tmp_path / "hazy" / "01_hazy.jpg", _hq(9))
    _fails(_spec("dense_haze", tmp_path), "01_hazy.png", "01_hazy.jpg", "'01'")


def test_duplicate_stems_in_folder_named(tmp_path):
    make_folder(tmp_path)
    write_image(tmp_path / "lq" / "a.bmp", _hq(9))
    _fails(_spec("folder", tmp_path), "a.bmp", "data.real_pairs (folder)")


def test_realblur_duplicate_line_named(tmp_path):
    make_realblur(tmp_path)
    listed = tmp_path / "RealBlur_J_train_list.txt"
    listed.write_text(listed.read_text() + f"{REALBLUR_DIR}/scene230/gt/gt_3.png {REALBLUR_DIR}/scene230/blur/"
                                           "blur_3.png\n")
    _fails(_spec("realblur", tmp_path), "RealBlur_J_train_list.txt, line 5", "gt_3.png", "'scene230/3'")


def test_realblur_missing_listed_file_named(tmp_path):
    make_realblur(tmp_path)
    (tmp_path / REALBLUR_DIR / "scene001" / "blur" / "blur_10.png").unlink()
    _fails(_spec("realblur", tmp_path), "blur_10.png", "RealBlur_J_train_list.txt, line 2")


@pytest.mark.parametrize("line", [
    f"{REALBLUR_DIR}/scene001/gt/gt_1.png {REALBLUR_DIR}/scene001/gt/gt_2.png",  # no blur
    f"{REALBLUR_DIR}/scene001/blur/blur_1.png",  # one path
    f"{REALBLUR_DIR}/scene001/gt/gt_1.png {REALBLUR_DIR}/scene001/blur/blur_1.png extra/blur/x.png",
])
def test_realblur_bad_line_named(line, tmp_path):
    make_realblur(tmp_path)
    (tmp_path / "RealBlur_J_train_list.txt").write_text(line + "\n")
    _fails(_spec("realblur", tmp_path), "RealBlur_J_train_list.txt, line 1", "gt/", "blur/")


@pytest.mark.parametrize("lists", [[], ["RealBlur_J_train_list.txt", "RealBlur_R_train_list.txt"]])
def test_realblur_list_unknown_asks_for_list(lists, tmp_path):
    make_realblur(tmp_path)
    (tmp_path / "RealBlur_J_train_list.txt").unlink()
    for name in lists:
        (tmp_path / name).write_text("")
    text = _fails(_spec("realblur", tmp_path), str(tmp_path), "list:", cls=ConfigError)
    assert all(name in text for name in lists)


def test_realblur_named_list_missing(tmp_path):
    make_realblur(tmp_path)
    _fails(_spec("realblur", tmp_path, list="RealBlur_J_val_list.txt"), "RealBlur_J_val_list.txt")


@pytest.mark.parametrize("kind", KINDS)
def test_set_without_pairs_refused(kind, tmp_path):
    for sub in {"dense_haze": ["hazy", "GT"], "lol": ["low", "high"], "sidd": ["Data/scene"], "realblur": [],
                "folder": ["lq", "hq"]}[kind]:
        (tmp_path / sub).mkdir(parents=True)
    if kind == "realblur":
        (tmp_path / "RealBlur_J_train_list.txt").write_text("\n")
    _fails(_spec(kind, tmp_path), "no image pairs", str(tmp_path))


# --- the Dataset ---------------------------------------------------------------------------------------------------


@pytest.fixture
def three_sets(tmp_path):
    make_dense_haze(tmp_path / "haze")
    make_sidd(tmp_path / "sidd")
    make_realblur(tmp_path / "blur")
    return [_spec("dense_haze", tmp_path / "haze", "haze"), _spec("sidd", tmp_path / "sidd", "noise"),
            _spec("realblur", tmp_path / "blur", "blur")]


def _u8(t: torch.Tensor) -> np.ndarray:
    return t.mul(255).round().to(torch.uint8).numpy()


def test_len_sets_and_set_of(three_sets):
    data = RealPairs(three_sets, crop=32, seed=0)
    assert len(data) == 3 + 4 + 3 and data.set_names == ["haze", "noise", "blur"]
    expected = [0] * 3 + [1] * 4 + [2] * 3
    assert [data.set_of(i) for i in range(len(data))] == expected
    assert [data[(0, i)]["set"] for i in range(len(data))] == expected
    assert [data[(0, i)]["index"] for i in range(len(data))] == list(range(len(data)))
    with pytest.raises(IndexError):
        data.set_of(len(data))
    with pytest.raises(IndexError):
        data[(0, -1)]


def test_crops_aligned_shaped_and_deterministic(three_sets):
    a = RealPairs(three_sets, crop=32, seed=5)
    b = pickle.loads(pickle.dumps(RealPairs(three_sets, crop=32, seed=5)))  # as a worker process gets it
    for epoch in (0, 3):
        for index in range(len(a)):
            item = a[(epoch, index)]
            assert item["lq"].shape == item["hq"].shape == (3, 32, 32) and item["lq"].dtype == torch.float32
            assert 0 <= float(item["hq"].min()) and float(item["hq"].max()) <= 1
            np.testing.assert_array_equal(_u8(item["lq"]), 255 - _u8(item["hq"]))
            again = b[(epoch, index)]
            assert torch.equal(item["lq"], again["lq"]) and torch.equal(item["hq"], again["hq"])


def test_another_epoch_or_seed_moves_the_window(three_sets):
    data = RealPairs(three_sets, crop=32, seed=5)
    other_seed = RealPairs(three_sets, crop=32, seed=6)
    assert any(not torch.equal(data[(0, i)]["hq"], data[(1, i)]["hq"]) for i in range(len(data)))
    assert any(not torch.equal(data[(0, i)]["hq"], other_seed[(0, i)]["hq"]) for i in range(len(data)))


def test_flips_some_items_and_not_others(three_sets):
    flipped = RealPairs(three_sets, crop=32, seed=1)
    plain = RealPairs(three_sets, crop=32, seed=1, flip=False)  # same windows: the flip is drawn after them
    seen = []
    for epoch in range(3):
        for index in range(len(flipped)):
            a, b = flipped[(epoch, index)], plain[(epoch, index)]
            if torch.equal(a["hq"], b["hq"]):
                seen.append(False)
            else:
                assert torch.equal(a["hq"], b["hq"].flip(-1)) and torch.equal(a["lq"], b["lq"].flip(-1))
                seen.append(True)
    assert any(seen) and not all(seen)


def test_small_images_resized_so_the_smaller_side_is_the_crop(tmp_path):
    import cv2

    (tmp_path / "lq").mkdir()
    (tmp_path / "hq").mkdir()
    hq = _write_pair(tmp_path / "lq" / "x.png", tmp_path / "hq" / "x.png", 3, h=24, w=40)
    big = cv2.resize(hq, (53, 32), interpolation=cv2.INTER_CUBIC)  # 40 * 32 / 24 = 53.3 -> 53
    data = RealPairs([_spec("folder", tmp_path)], crop=32, seed=0, flip=False)
    lefts = set()
    for epoch in range(8):
        item = data[(epoch, 0)]
        assert item["hq"].shape == (3, 32, 32)
        out = _u8(item["hq"]).transpose(1, 2, 0)
        left = [x for x in range(53 - 32 + 1) if np.array_equal(big[:, x:x + 32], out)]
        assert len(left) == 1
        lefts.add(left[0])
        # cubic resizing of lq = 255 - hq stays aligned, up to the rounding of a half level
        assert np.abs(_u8(item["lq"]).astype(int) - (255 - _u8(item["hq"]).astype(int))).max() <= 1
    assert len(lefts) > 1


def test_undecodable_image_named_at_read_time(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "hq" / "b.png").write_bytes(b"not an image")
    data = RealPairs([_spec("folder", tmp_path)], crop=32, seed=0)  # reading the layout does not decode
    data[(0, 0)]  # a
    with pytest.raises(BFRBenchError, match=r"b\.png"):
        data[(0, 1)]


def test_pair_of_two_sizes_names_both(tmp_path):
    make_folder(tmp_path)
    write_image(tmp_path / "hq" / "c.png", _hq(7, h=H, w=W + 2))
    data = RealPairs([_spec("folder", tmp_path)], crop=32, seed=0)
    with pytest.raises(BFRBenchError) as err:
        data[(0, 2)]
    assert str(tmp_path / "lq" / "c.png") in str(err.value) and str(tmp_path / "hq" / "c.png") in str(err.value)


def test_dataset_refuses_no_sets_and_bad_crop(three_sets):
    with pytest.raises(ConfigError):
        RealPairs([], crop=32, seed=0)
    with pytest.raises(ConfigError, match="crop"):
        RealPairs(three_sets, crop=0, seed=0)
