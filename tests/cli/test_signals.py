"""SIGTERM and SIGHUP stop a run as Ctrl-C does: the run is closed as interrupted in
the history and the process exits 128 + the signal's number."""

from __future__ import annotations

import signal

import pytest

from history_support import silent_server, start_stuck_run, statuses, wait_for


@pytest.mark.parametrize(
    ("sig", "code", "message"),
    [
        (signal.SIGTERM, 143, "interrupted by SIGTERM"),
        (signal.SIGHUP, 129, "interrupted by SIGHUP"),
        (signal.SIGINT, 130, "interrupted"),
    ],
)
def test_a_signal_closes_the_run_as_interrupted(tmp_path, sig, code, message):
    with silent_server() as (port, arrived):
        proc, db = start_stuck_run(tmp_path, port)
        wait_for(arrived, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert out == ""
    assert err.splitlines()[-1] == message
    assert "Traceback" not in err
    [(status, error)] = statuses(db)
    assert status == "interrupted"
    assert error is not None and error.startswith("interrupted")
