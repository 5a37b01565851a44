"""Validation stays linear in the size of the file, checked by structure, not by the clock.

A file of 20,000 steps once took 23 s to check: each step of the list scanned the whole
list (``3 in [...]`` on the way to its value), and each step's scope was a fresh copy of
every id before it. Both costs grow with the list, so these tests count what a step
costs at two sizes and require the same.
"""

from __future__ import annotations

import sys
from typing import Any

from hookline._plan import Builder
from hookline._yamlpos import load_yaml


def pipeline(n: int) -> str:
    lines = ["version: 1", "name: big", "steps:"]
    for i in range(n):
        lines += [f"  - id: s{i}", "    set:", f'      v: "${{{{ steps.s{max(i - 1, 0)}.v }}}}"']
    lines[5] = "      v: 1"  # the first step reads nothing
    return "\n".join(lines) + "\n"


class ScanCountingList(list[Any]):
    """A list that counts every pass over it (iteration or membership test)."""

    scans = 0

    def __iter__(self) -> Any:
        ScanCountingList.scans += 1
        return super().__iter__()

    def __contains__(self, item: object) -> bool:
        ScanCountingList.scans += 1
        return super().__contains__(item)


def scans_to_build(n: int) -> int:
    text = pipeline(n)
    doc = load_yaml("big.yaml", text)
    doc.data["steps"] = ScanCountingList(doc.data["steps"])
    ScanCountingList.scans = 0
    builder = Builder(doc)
    assert builder.build(text.encode()) is not None, builder.problems
    return ScanCountingList.scans


def test_the_steps_list_is_scanned_a_fixed_number_of_times_whatever_its_length():
    assert scans_to_build(400) == scans_to_build(50)


class ScopeRecordingBuilder(Builder):
    """Keeps the set of readable steps each expression was checked against."""

    seen: list[Any]

    def check_expression(self, expr: Any, path: Any, scope: Any) -> None:
        if scope is not None:
            self.seen.append(scope.steps)
        super().check_expression(expr, path, scope)


def test_a_steps_scope_costs_the_same_at_the_end_of_a_long_list_as_at_its_start():
    text = pipeline(2000)
    builder = ScopeRecordingBuilder(load_yaml("big.yaml", text))
    builder.seen = []
    assert builder.build(text.encode()) is not None, builder.problems
    first, last = builder.seen[0], builder.seen[-1]
    assert "s0" in last and "s1998" in last and "s1999" not in last  # what it says is right
    assert "s0" in first and "s1" not in first  # the first expression is in step s1
    # A copy of every id before the step would grow to tens of kilobytes here.
    assert sys.getsizeof(last) == sys.getsizeof(first)


def test_unknown_steps_in_a_long_list_get_a_hint_without_comparing_every_id(cli, write):
    lines = ["version: 1", "name: typos", "steps:", "  - id: s0", "    set: 1"]
    for i in range(1, 400):
        lines += [f"  - id: s{i}", "    set:", f'      v: "${{{{ steps.S{i - 1}.v }}}}"']
    path = write("typos.yaml", "\n".join(lines) + "\n")
    result = cli("check", path)
    assert result.code == 2
    out = result.out.splitlines()
    assert len(out) == 399
    assert out[0] == f"{path}:8:21: unknown step 'S0'; did you mean 's0'?"  # few: difflib
    assert out[-1] == f"{path}:1202:21: unknown step 'S398'; did you mean 's398'?"  # one edit


def test_an_unknown_step_among_few_lists_those_that_can_be_read(cli, write):
    path = write(
        "few.yaml",
        "version: 1\nname: few\nsteps:\n  - id: alpha\n    set: 1\n  - id: beta\n    set: 2\n"
        '  - id: c\n    set: "${{ steps.zzz }}"\n',
    )
    result = cli("check", path)
    assert result.out.splitlines() == [
        f"{path}:9:21: unknown step 'zzz' (steps it can read here: alpha, beta)"
    ]
