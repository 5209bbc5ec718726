"""MLflow tracking: a local sqlite store keeps its runs' files beside it, not in the working directory."""

from __future__ import annotations

from pathlib import Path

from bfrbench.tracking import artifact_location, stage_run


def test_artifacts_of_a_sqlite_store_live_beside_it(tmp_path, monkeypatch):
    store = tmp_path / "store" / "mlflow.db"
    store.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert artifact_location(f"sqlite:///{store}") == (tmp_path / "store" / "mlruns").as_uri()
    assert artifact_location("http://mlflow.lab:5000") is None, "a server keeps its own default"
    (work / "note.txt").write_text("x")
    with stage_run("report", "unit") as run:
        run.log_artifact(work / "note.txt")
    logged = list((tmp_path / "store" / "mlruns").rglob("note.txt"))
    assert len(logged) == 1 and not (work / "mlruns").exists()
    assert Path(logged[0]).read_text() == "x"
