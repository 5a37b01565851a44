"""Which pipeline a test file tests: the one beside it, or the one its ``pipeline:``
names, kept inside the test file's folder (a test file may come from elsewhere: it must
not make hookline read, or quote, a file that is no pipeline of its folder)."""

from __future__ import annotations

import os
from pathlib import Path

from .._document import Document
from .._errors import PipelineInvalid, Problem
from ._names import SUFFIXES

__all__ = ["pipeline_beside", "pipeline_path", "unquoted"]


def pipeline_beside(test_path: Path) -> Path:
    """``orders.test.yaml`` → ``orders.yaml`` (same suffix)."""
    name = test_path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return test_path.with_name(name[: -len(suffix)] + suffix.replace(".test", ""))
    return test_path


def pipeline_path(doc: Document, test: Path, given: str | None) -> Path:
    """The pipeline a test file tests: the one beside it, or the one its ``pipeline:``
    names. Only a .yaml or .yml file inside the test file's folder (or below it), after
    symlinks: a test file cannot make hookline read ``.env``, ``/etc/passwd`` or a device,
    nor print a line of one in an error."""
    at: tuple[str, ...] = ("pipeline",) if given is not None else ()

    def refuse(message: str) -> PipelineInvalid:
        return PipelineInvalid([doc.problem(at, message, at_key=given is not None)])

    if given is None:
        target = pipeline_beside(test)
        shown = target.name
    else:
        shown = repr(given)
        if os.path.isabs(given):
            raise refuse(
                f"pipeline: {shown} is an absolute path: name the pipeline by its path from "
                "this test file's folder (orders.yaml, or flows/orders.yaml below it)"
            )
        if not given.endswith((".yaml", ".yml")):
            raise refuse(f"pipeline: {shown} is not a .yaml or .yml file")
        target = test.parent / given
    folder = test.parent.resolve()
    if not target.resolve().is_relative_to(folder):
        raise refuse(
            f"pipeline: {shown} is outside this test file's folder (through '..' or a "
            "symlink): a test file tests a pipeline in its own folder or below it"
        )
    if not target.is_file():
        what = "no pipeline file" if not target.exists() else "not a regular file:"
        if given is None:
            raise refuse(f"no pipeline file {shown} beside this test file")
        raise refuse(f"pipeline: {what} {shown} in this test file's folder")
    return target


def unquoted(problem: Problem, target: str) -> Problem:
    """The loader's problem, without a quote of what a file that is no pipeline holds (it
    may be anything, a secret included: only pipelines are quoted)."""
    head, sep, _ = problem.message.partition("; this file holds ")
    if problem.file != target or not sep:
        return problem
    return Problem(problem.file, problem.line, problem.col, head, problem.warning)
