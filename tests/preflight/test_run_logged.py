"""preflight's command runner: a death by signal is named, and ranks orphaned by a dead rank 0 are killed.

Plain Python children stand in for Lightning's DDP launcher (rank 0 starts the other ranks as its children; they
block in a collective when rank 0 dies)."""

from __future__ import annotations

import os
import sys
import time

from bfrbench.preflight.run import _group_members, run_logged


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_rank_killed_by_sigkill_is_named_and_its_orphan_rank_is_killed(tmp_path):
    pid_file = tmp_path / "rank1.pid"
    # "rank 0" starts a "rank 1" that waits forever (as a rank waits in a collective), then is SIGKILLed
    script = (
        "import os, signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('rank 0: step 1', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    log = tmp_path / "logs" / "x.log"
    rc, _, err = run_logged([sys.executable, "-c", script], tmp_path, log, dict(os.environ))
    assert rc == -9
    first = err.splitlines()[0]
    assert "killed by SIGKILL (9)" in first and "out-of-memory killer" in first, err
    assert "still running and were killed" in first and str(log) in first, err
    assert "rank 0: step 1" in err, "the log's last lines follow"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the orphaned rank is killed, not left holding its memory"


def test_a_clean_run_waits_for_ranks_finishing_on_their_own(tmp_path):
    marker = tmp_path / "rank1.done"
    rank1 = tmp_path / "rank1.py"  # outlives rank 0 by a moment (as a rank writing its probe file): not killed
    rank1.write_text(f"import pathlib, time\ntime.sleep(1.5)\npathlib.Path({str(marker)!r}).write_text('ok')\n")
    script = f"import subprocess, sys\nsubprocess.Popen([sys.executable, {str(rank1)!r}])\n"
    rc, _, err = run_logged([sys.executable, "-c", script], tmp_path, tmp_path / "x.log", dict(os.environ))
    assert rc == 0 and err == "", (tmp_path / "x.log").read_text()
    assert marker.read_text() == "ok"


def test_an_error_exit_keeps_the_cli_message(tmp_path):
    script = "import sys; print('noise'); print('bfrbench: error: models/x: missing', file=sys.stderr); sys.exit(2)"
    rc, _, err = run_logged([sys.executable, "-c", script], tmp_path, tmp_path / "x.log", dict(os.environ))
    assert rc == 2
    lines = err.splitlines()
    assert lines[0].startswith("exit 2 (log: ") and lines[1] == "bfrbench: error: models/x: missing"


def test_group_members_sees_a_live_group_and_not_an_ended_one(tmp_path):
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        assert _group_members(proc.pid) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    assert _group_members(proc.pid) == []


def test_a_full_disk_says_so_and_how_much_is_free(tmp_path):
    script = "raise OSError(28, 'No space left on device')"
    rc, _, err = run_logged([sys.executable, "-c", script], tmp_path, tmp_path / "x.log", dict(os.environ))
    assert rc == 1
    first = err.splitlines()[0]
    assert f"the disk of {tmp_path} is full" in first and "GiB free now" in first and "--out" in first, err
    assert "OSError: [Errno 28] No space left on device" in err
