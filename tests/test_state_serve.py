"""State under a real ``hookline serve``: each run of a webhook pipeline reads what the
previous one saved, and a failed run saves nothing."""

from __future__ import annotations

import json
from pathlib import Path

from hookline.cli import main
from serve_support import SIGNED, Serve, hook

COUNTER = (
    hook(
        "counter",
        "/hooks/count",
        trigger_extra=SIGNED + "    reply: sync\n",
        steps="""  - id: next
    set: "${{ sum([state.n || `0`, `1`]) }}"
  - id: check
    if: "input.fail"
    fail: "asked to fail"
""",
        output='"${{ steps.next }}"',
    )
    + 'save_state:\n  n: "${{ steps.next }}"\n'
)


def test_each_served_run_reads_the_state_the_last_successful_one_saved(tmp_path, capsys):
    directory, home = tmp_path / "pipelines", tmp_path / "home"
    directory.mkdir()
    (directory / "counter.yaml").write_text(COUNTER, encoding="utf-8")
    with Serve(directory, home) as serve:
        answers = [serve.post("/hooks/count", {}) for _ in range(2)]
        failed = serve.post("/hooks/count", {"fail": True})
        last = serve.post("/hooks/count", {})
    assert [(a.status, a.json()) for a in answers] == [(200, 1), (200, 2)]
    assert failed.status == 500
    assert (last.status, last.json()) == (200, 3)
    assert main(["state", "show", "counter", "--db", str(Path(home) / "hookline.db")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["version"], shown["state"]) == (3, {"n": 3})
