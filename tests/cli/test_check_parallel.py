"""``hookline check`` of many files checks them in worker processes: the user sees the very
output, order and exit code of a check in one process, and the cache is written alike.

Each check runs in a fresh interpreter (worker processes are forked only from a process
without other threads), which reports whether it started workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hookline.cli._check_parallel import FILES_PER_WORKER, WARM_UP

_PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from hookline.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(sys.argv[1:])
    print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(),
                      "forked": "multiprocessing.pool" in sys.modules,
                      "parsed": "yaml" in sys.modules}))
    """
)

_MAIN = "import sys; from hookline.cli import main; sys.exit(main())"
GOOD = "version: 1\nname: p{n}\nsteps:\n  - id: hi\n    set: hello {n}\n"
BROKEN = {
    3: "version: 1\nname: p3\nsteps:\n  - id: hi\n    sett: hello\n",
    20: "version: 1\nname: p20\nsteps:\n  - id: hi\n    set: '${{ steps.nope.x }}'\n",
    33: "version: 1\nname: p33\nsteps: [\n",
    41: "version: 1\nname: [p41\nsteps: []\n",
}
COUNT = WARM_UP + 2 * FILES_PER_WORKER + 4  # enough for two workers
FORKS = sys.platform not in ("darwin", "win32")  # no worker processes there


def check(home: Path, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "check", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOOKLINE_HOME": str(home), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    for n in range(COUNT):
        text = BROKEN.get(n, GOOD.format(n=n))
        (folder / f"p{n:02}.yaml").write_text(text, encoding="utf-8")
    return folder


def test_the_same_report_as_one_process(tmp_path: Path, project: Path) -> None:
    one = check(tmp_path / "home-1", "--jobs", "1", str(project))
    many = check(tmp_path / "home-2", "--jobs", "2", str(project))
    assert (one["forked"], many["forked"]) == (False, FORKS)
    assert one["code"] == many["code"] == 2
    assert many["out"] == one["out"]
    assert many["err"] == one["err"] == f"{COUNT} files checked: 4 problems in 4\n"
    out = str(many["out"]).splitlines()
    assert (
        out[0] == f"{project / 'p03.yaml'}:5:5: steps[0]: unknown key 'sett'; did you mean 'set'?"
    )
    assert [line.split(":")[0] for line in out] == sorted(line.split(":")[0] for line in out)
    assert f"{project / 'p41.yaml'}:3:6:" in many["out"]

    json_one = check(tmp_path / "home-3", "--jobs", "1", "--format", "json", str(project))
    json_many = check(tmp_path / "home-4", "--jobs", "2", "--format", "json", str(project))
    assert json_many["out"] == json_one["out"]
    assert json_many["code"] == 2


def test_the_parent_remembers_what_the_workers_passed(tmp_path: Path, project: Path) -> None:
    home = tmp_path / "home"
    first = check(home, "--jobs", "2", str(project))
    assert (first["forked"], first["parsed"]) == (FORKS, True)
    with contextlib.closing(sqlite3.connect(home / "checked" / "passes.db")) as db:
        assert db.execute("SELECT count(*) FROM passed").fetchone() == (COUNT - len(BROKEN),)
    again = check(home, "--jobs", "2", str(project))
    # Only the broken files are checked again: too few to start workers for.
    assert again["forked"] is False
    assert (again["code"], again["out"], again["err"]) == (2, first["out"], first["err"])

    for n in BROKEN:
        (project / f"p{n:02}.yaml").write_text(GOOD.format(n=n), encoding="utf-8")
    fixed = check(home, "--jobs", "2", str(project))
    assert (fixed["code"], fixed["err"]) == (0, f"{COUNT} files checked: all valid\n")
    assert check(home, "--jobs", "2", str(project))["parsed"] is False


def test_few_files_are_checked_in_one_process(tmp_path: Path, project: Path) -> None:
    few = sorted(project.iterdir())[: WARM_UP + 2 * FILES_PER_WORKER - 1]
    report = check(tmp_path / "home", "--jobs", "8", *map(str, few))
    assert report["forked"] is False
    assert report["code"] == 2


@pytest.mark.parametrize("jobs", ["0", "-1", "many"])
def test_jobs_must_be_a_positive_number(tmp_path: Path, jobs: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _MAIN, "check", "--jobs", jobs, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOOKLINE_HOME": str(tmp_path / "home"), "PATH": ""},
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"hookline check: error: argument --jobs: '{jobs}' is not a number of processes (1 or more)"
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_stops_the_workers_too(tmp_path: Path) -> None:
    project = tmp_path / "many"
    project.mkdir()
    step = "  - id: s{i}\n    set: '${{{{ input }}}}'\n"
    steps = "".join(step.format(i=i) for i in range(300))
    for n in range(400):
        text = f"version: 1\nname: p{n}\nsteps:\n{steps}"
        (project / f"p{n:03}.yaml").write_text(text, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-c", _MAIN, "check", "--jobs", "2", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"HOOKLINE_HOME": str(tmp_path / "home"), "PATH": ""},
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the parent checks a few files itself before it forks
    assert len(_children(proc.pid)) == 2
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "interrupted"
    assert "Traceback" not in err
    # No worker outlives the check.
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc: Linux)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue  # not a process, or one that just ended
        # The command name (2nd field) may hold spaces: the fields after it follow ")".
        if entry.isdigit() and int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry))
    return found


def test_the_parent_checks_one_of_each_kind_before_it_forks() -> None:
    from hookline.cli._check_parallel import WARM_UP_MAX, pick_warm_up

    rest = "version: 1\nname: r\nsteps:\n  - id: a\n    rest: {connection: api}\n"
    soap = "version: 1\nconnections:\n  crm:\n    soap:\n      wsdl: crm.wsdl\n"
    other_wsdl = soap.replace("crm.wsdl", "erp.wsdl")
    sources = [rest.encode()] * 20 + [soap.encode(), soap.encode(), other_wsdl.encode()]
    assert pick_warm_up(sources) == [*range(WARM_UP), 20, 22]
    many_kinds = [f"version: 1\nkey{n}: x\n".encode() for n in range(100)]
    assert pick_warm_up(many_kinds) == list(range(WARM_UP_MAX))
