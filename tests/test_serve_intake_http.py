"""Through a real ``hookline serve``: a delivery the store cannot commit is answered 503
and never 2xx, and nothing of it is kept."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from serve_support import SIGNED, Serve, hook


def test_a_delivery_past_the_database_cap_is_answered_503_and_not_kept(tmp_path: Path):
    directory = tmp_path / "p"
    directory.mkdir()
    (directory / "big.yaml").write_text(
        hook(
            "big",
            "/hooks/big",
            trigger_extra=SIGNED,
            steps='  - id: size\n    set: "${{ length(input.text) }}"\n',
            output='"${{ steps.size }}"',
        ),
        encoding="utf-8",
    )
    home = tmp_path / "home"
    # A 2 MiB cap takes a delivery of 900 KB, perhaps two, not three.
    with Serve(directory, home, env={"HOOKLINE_HISTORY_MAX_MB": "2"}) as serve:
        answers = []
        while len(answers) < 3 and (not answers or answers[-1].status == 202):
            answers.append(serve.post("/hooks/big", {"text": "x" * 900_000}))
        refused = answers.pop()
        assert (refused.status, refused.json()) == (
            503,
            {
                "error": "the delivery could not be stored (the disk is full, or the database "
                "reached its size cap): try again later"
            },
        )
        assert answers and {a.status for a in answers} == {202}
        with closing(sqlite3.connect(home / "hookline.db")) as db:
            kept = {row[0] for row in db.execute("SELECT run_id FROM deliveries")}
        assert kept == {a.json()["run_id"] for a in answers}  # nothing of the refused one
