import torch

from bfrbench.data.datamodule import BFRDataModule, EpochIndexSampler


def _batches(faces, workers):
    dm = BFRDataModule(faces, 32, {"preset": "codeformer_stage2"}, seed=5, batch_size=4, num_workers=workers)
    dm.setup("fit")
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(1)
    return [(b["lq"].clone(), b["hq"].clone()) for b in loader]


def test_same_batches_whatever_the_worker_count(tiny_faces):
    a, b = _batches(tiny_faces, 0), _batches(tiny_faces, 2)
    assert len(a) == len(b) == 3
    for (la, ha), (lb, hb) in zip(a, b):
        assert torch.equal(la, lb) and torch.equal(ha, hb)


def test_sampler_epochs_differ_and_shard():
    s = EpochIndexSampler(10, seed=1)
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert sorted(i for _, i in e0) == list(range(10)) and [i for _, i in e0] != [i for _, i in e1]
    assert all(e == 1 for e, _ in e1)


def test_val_set_is_fixed(tiny_faces):
    dm = BFRDataModule(tiny_faces, 32, "gfpgan", seed=5, batch_size=2)
    dm.setup("fit")
    first = [b["lq"] for b in dm.val_dataloader()]
    second = [b["lq"] for b in dm.val_dataloader()]
    assert all(torch.equal(x, y) for x, y in zip(first, second))


def test_real_lq_loader_is_unpaired_and_deterministic(tiny_faces):
    dm = BFRDataModule(tiny_faces, 32, "gfpgan", seed=2, batch_size=2, real_lq=str(tiny_faces / "hq"))
    dm.setup("fit")
    loaders = dm.train_dataloader()
    assert set(loaders) == {"paired", "real_lq"}
    batch = next(iter(loaders["real_lq"]))
    assert set(batch) == {"lq", "index"} and batch["lq"].shape == (2, 3, 32, 32)
    again = next(iter(dm.train_dataloader()["real_lq"]))
    assert torch.equal(batch["lq"], again["lq"])


def test_a_share_smaller_than_a_batch_gives_one_short_batch_not_an_empty_loader(tiny_faces, monkeypatch):
    """4 real pairs on 2 processes with a batch of 4: each process gets 2, so a full-batches-only loader would be
    empty, and Lightning cycling an empty second loader never returns (found by the paper preflight)."""
    monkeypatch.setattr(EpochIndexSampler, "_rank_world", staticmethod(lambda: (1, 2)))
    dm = BFRDataModule(tiny_faces, 32, "gfpgan", seed=5, batch_size=4)
    class Keys(torch.utils.data.Dataset):  # a dataset addressed by (epoch, index), as the suite's are
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, key):
            return key[1]

    loader = dm._loader(Keys(4), batch_size=4)
    assert len(loader) == 1 and [len(b) for b in loader] == [2]
    assert len(dm._loader(Keys(16), batch_size=4)) == 2, "a share of 8: full batches of 4"


def test_without_workers_batches_are_made_on_one_thread_and_the_settings_come_back(tiny_faces, monkeypatch):
    """data.num_workers: 0 (datamodule.one_thread): samples see one torch, OpenCV and BLAS thread; training does not."""
    import cv2
    from threadpoolctl import threadpool_info

    from bfrbench.data.datamodule import DegradedFaces

    seen = []
    real = DegradedFaces.__getitem__

    def spy(self, key):
        blas = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        seen.append((torch.get_num_threads(), cv2.getNumThreads(), set(blas)))
        return real(self, key)

    monkeypatch.setattr(DegradedFaces, "__getitem__", spy)
    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(2)
    try:
        assert len(_batches(tiny_faces, 0)) == 3
        assert seen and all(s == (1, 1, {1}) for s in seen), seen[:2]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before[0])
    assert cv2.getNumThreads() == before[1]
