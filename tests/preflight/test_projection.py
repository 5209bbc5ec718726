"""Measurements from probe records, the projection of the configured run, the table (fast)."""

from bfrbench.preflight.measure import summarize, warm_batches
from bfrbench.preflight.table import document, human_seconds, projection, render


def _batch(step, data=0.5, steps=1):
    return {"step_seconds": step, "data_seconds": data, "optimizer_steps": steps}


def _rank(rank, batches, start=0, end=None, rss=2**30):
    return {"rank": rank, "batches": batches, "start_step": start, "end_step": end if end is not None else len(batches),
            "parameters": 100, "trainable_parameters": 10, "peak_rss_bytes": rss}


def test_first_batch_of_each_process_is_warm_up():
    batches, warm = warm_batches([_rank(0, [_batch(9.0), _batch(1.0), _batch(1.0)])])
    assert warm and [b["step_seconds"] for b in batches] == [1.0, 1.0]
    batches, warm = warm_batches([_rank(0, [_batch(9.0)]), _rank(0, [_batch(8.0)])])
    assert not warm and len(batches) == 2  # one step per run: what there is, marked cold


def test_summary_takes_the_slowest_rank_and_the_largest_memory():
    first = [_rank(0, [_batch(9.0), _batch(1.5)], rss=3 * 2**30), _rank(1, [_batch(9.0), _batch(2.5, 0.5)])]
    resumed = [_rank(0, [_batch(9.0)], start=2, end=3), _rank(1, [_batch(9.0)], start=2, end=3)]
    m = summarize(first, resumed)
    assert m["seconds_per_step"] == 3.0 and m["data_seconds_per_step"] == 0.5 and m["warm"]
    assert m["peak_memory_bytes"] == 3 * 2**30 and m["processes"] == 2
    assert (m["resumed_from_step"], m["resumed_to_step"]) == (2, 3)
    assert m["parameters"] == 100 and m["steps_per_batch"] == 1


def test_gan_steps_per_batch():
    m = summarize([_rank(0, [_batch(4.0, 0.0, 2), _batch(4.0, 0.0, 2)])], [])
    assert m["steps_per_batch"] == 2 and m["seconds_per_step"] == 2.0


def _stage(**kw):
    s = {"key": "x-train", "status": "pass", "trains": True, "notes": [],
         "configured": {"devices": 8, "num_nodes": 1, "max_steps": 100000, "batch_size": 4, "size": 512},
         "preflight": {"devices": 2, "batch_size": 4, "size": 512},
         "measured": {"seconds_per_step": 2.0, "warm": True}}
    s.update(kw)
    return s


def test_weak_scaling_projection():
    p = projection(_stage())
    assert p["wall_seconds"] == 200000 and p["device_hours"] == 200000 * 8 / 3600
    assert "an estimate" not in p["basis"]


def test_lowered_batch_and_size_scale_linearly_and_say_so():
    p = projection(_stage(preflight={"devices": 2, "batch_size": 1, "size": 256}))
    assert p["wall_seconds"] == 100000 * 2.0 * 4 * 4 and "an estimate" in p["basis"]


def test_stage_without_training_projects_its_run_time():
    p = projection({"trains": False, "run_seconds": [3.0], "work_scale": 250})
    assert p["wall_seconds"] == 750 and "x 250" in p["basis"]
    assert projection({"trains": False, "run_seconds": None})["wall_seconds"] is None


def test_document_and_table():
    failed = _stage(key="y-train", status="fail", measured={}, error="RuntimeError: boom")
    doc = document([_stage(random_weights=True), failed],
                   [{"method": "x", "status": "pass", "summary": "2 metrics computed"}],
                   {"profile": "paper", "seconds": 1.0, "notes": ["faces: smoke"]})
    assert not doc["ok"] and doc["failed"] == ["y-train"]
    assert doc["totals"]["stages_projected"] == 1 and doc["totals"]["wall_seconds"] == 200000
    text = render(doc)
    assert "pass (random weights)" in text and "architecture only, random weights" in text
    assert "RuntimeError: boom" in text and "note: faces: smoke" in text and "55.6 h" in text
    # the errors come last (a long table and notes would scroll them out of a CI log's tail)
    assert text.splitlines()[-3:] == ["errors:", "  y-train:", "      RuntimeError: boom"]


def test_human_seconds():
    assert human_seconds(5) == "5.00 s" and human_seconds(600) == "10 min" and human_seconds(36000) == "10.0 h"
