"""``hookline init [DIR]``: start a project that checks, tests and runs at once.

It writes an example pipeline and its offline test, the JSON Schemas where the files'
modelines and the editor settings find them (``schemas/`` beside ``pipelines/``: a
modeline's ``../schemas/...`` resolves in the user's project, not only in hookline's),
an ``.env`` with a project-local hookline home, a ``.gitignore`` for it and a working
pre-commit configuration. It never overwrites: the files a user merges by hand
(``.gitignore``, ``.pre-commit-config.yaml``, ``.vscode/settings.json``) are left alone
when they exist and init prints what to add to each (cli/_init_merge.py); when a file it
owns exists (the example, the schemas, ``.env``) it lists them, writes nothing and exits
2. It writes only inside DIR: a folder it would write in
that is a symbolic link (even a dangling one) is refused, and every file is created
through a descriptor of its folder opened without following links, so a link planted
while it runs is not followed either. ``.env`` is private (0600): it comes to hold
secrets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from importlib import resources
from pathlib import Path

from .._errors import UsageError
from ._init_merge import MERGED, advice

__all__ = ["FILES", "add_parser", "handle", "project_files"]

EXAMPLE = """\
# yaml-language-server: $schema=../schemas/pipeline.schema.json
version: 1
name: greet-user
description: >
  Fetch one user from a REST API and greet them by name. The API's address comes from
  the environment (API_URL, see .env), so the same file runs against a test server, a
  staging server and production.

trigger:
  manual:
    input_schema:
      type: object
      required: [user_id]
      properties:
        user_id: {type: integer, minimum: 1}

env:
  API_URL:
    default: https://jsonplaceholder.typicode.com
    description: Base URL of the users API

connections:
  users:
    rest:
      base_url: "${{ env.API_URL }}"
      timeout: 10s
      retry: {attempts: 3}

steps:
  - id: user
    rest:
      connection: users
      path: "/users/${{ input.user_id }}"

output:
  greeting: "Hello, ${{ steps.user.body.name }}!"
  email: "${{ lower(steps.user.body.email) }}"
"""

EXAMPLE_TEST = """\
# yaml-language-server: $schema=../schemas/pipeline-test.schema.json
# Offline tests of greet-user.yaml: `hookline test pipelines/` (docs/testing.md).
version: 1

cases:
  - name: a user is greeted by name
    input: {user_id: 1}
    answers:
      user: {json: {id: 1, name: Leanne Graham, email: Sincere@april.biz}}
    expect:
      status: succeeded
      output: {greeting: "Hello, Leanne Graham!", email: sincere@april.biz}
      requests:
        user:
          - method: GET
            url: https://jsonplaceholder.typicode.com/users/1

  - name: an unknown user fails the run
    input: {user_id: 99}
    answers:
      user: {status: 404, json: {}}
    expect:
      status: failed
      failed_step: user
"""

ENV_FILE = """\
# Settings for this project, read with --env-file .env (docs/running.md#env-files).
# Not committed (.gitignore): each machine keeps its own. Process environment wins.

# The hookline home of this project (run history, check cache), relative to this file.
HOOKLINE_HOME=.hookline

# The users API of pipelines/greet-user.yaml (its default is the public test API).
# API_URL=https://jsonplaceholder.typicode.com
"""

GITIGNORE = """\
# Local settings and secrets (hookline run --env-file .env)
.env
.env.*
# The project-local hookline home: run history, inputs and responses, check cache
.hookline/
"""

PRE_COMMIT = """\
# Checks every changed YAML file that is a hookline pipeline or test file before each
# commit; other YAML is skipped with a note (docs/running.md#pre-commit).
repos:
  - repo: local
    hooks:
      - id: hookline-check
        name: hookline check
        entry: hookline check --skip-non-pipelines
        language: system
        types: [yaml]
"""

VSCODE_SETTINGS = {
    "yaml.schemas": {
        "./schemas/pipeline.schema.json": [
            "pipelines/**/*.yaml",
            "pipelines/**/*.yml",
            "!pipelines/**/*.test.yaml",
            "!pipelines/**/*.test.yml",
        ],
        "./schemas/pipeline-test.schema.json": ["**/*.test.yaml", "**/*.test.yml"],
    }
}

FILES = (
    "pipelines/greet-user.yaml",
    "pipelines/greet-user.test.yaml",
    "schemas/pipeline.schema.json",
    "schemas/pipeline-test.schema.json",
    ".vscode/settings.json",
    ".env",
    ".gitignore",
    ".pre-commit-config.yaml",
)
"""What ``init`` writes, relative to DIR."""

PRIVATE = frozenset({".env"})
"""Files only their owner may read (0600): an env file comes to hold secrets."""


def _schema(name: str) -> str:
    return (resources.files("hookline") / "schemas" / name).read_text(encoding="utf-8")


def project_files() -> dict[str, str]:
    """Each file ``init`` writes and its text."""
    return {
        "pipelines/greet-user.yaml": EXAMPLE,
        "pipelines/greet-user.test.yaml": EXAMPLE_TEST,
        "schemas/pipeline.schema.json": _schema("pipeline.schema.json"),
        "schemas/pipeline-test.schema.json": _schema("pipeline-test.schema.json"),
        ".vscode/settings.json": json.dumps(VSCODE_SETTINGS, indent=2) + "\n",
        ".env": ENV_FILE,
        ".gitignore": GITIGNORE,
        ".pre-commit-config.yaml": PRE_COMMIT,
    }


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="start a project: an example pipeline and its test, schemas, editor and "
        "pre-commit settings",
        description="Start a hookline project in DIR: " + ", ".join(FILES) + ". Never "
        "overwrites: an existing " + ", ".join(MERGED) + " is left alone and init prints "
        "what to add to it; when any other of these files exists, init lists them and "
        "writes nothing (exit 2).",
    )
    p.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        default=".",
        help="the project's folder (default: the current one); created when missing",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    root = Path(args.directory)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    files = project_files()
    folders = sorted({str(Path(name).parent) for name in files} - {"."})
    for folder in folders:
        if (root / folder).is_symlink():
            raise UsageError(
                f"{root}: init writes nothing: {folder} is a symbolic link (init writes only "
                f"inside {root}, never through a link)"
            )
        if (root / folder).exists() and not (root / folder).is_dir():
            raise UsageError(f"{root}: init writes nothing: {folder} is not a directory")
    present = [name for name in files if (root / name).exists() or (root / name).is_symlink()]
    kept = [name for name in present if name in MERGED and (root / name).is_file()]
    refused = [name for name in present if name not in kept]
    if refused:
        raise UsageError(
            f"{root}: init writes nothing, these files exist: {', '.join(refused)}\n"
            "  init never overwrites a file: move or rename them and run init again, or start "
            "in a new folder (hookline init DIR); to refresh only the schemas: hookline schema "
            "> schemas/pipeline.schema.json; hookline schema --tests > "
            "schemas/pipeline-test.schema.json"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a dangling link, a parent that is a file, no permission
        raise UsageError(f"{root}: cannot create this directory: {exc.strerror}") from exc
    written = [name for name in files if name not in kept]
    for name in written:
        try:
            _write(root, name, files[name])
        except OSError as exc:  # a link or file put there since the checks above
            raise UsageError(f"{root}: cannot write {name}: {exc.strerror}") from exc
    print(f"started a hookline project in {root}:", file=sys.stderr)
    for name in written:
        print(f"  {name}", file=sys.stderr)
    for name in kept:
        print(_kept_note(root, name, files[name]), file=sys.stderr)
    print(_next_steps(root), file=sys.stderr)
    return 0


def _kept_note(root: Path, name: str, ours: str) -> str:
    """What init says of a file it left alone: what to add to it, or that it is fine."""
    try:
        existing = (root / name).read_text(encoding="utf-8", errors="replace")
    except OSError:
        existing = ""
    lines = advice(name, existing, ours)
    if not lines:
        return f"  {name}: exists, left alone (it already has what hookline needs)"
    return "\n".join(
        [f"  {name}: exists, left alone; add these lines to it:"] + [f"      {x}" for x in lines]
    )


def _next_steps(root: Path) -> str:
    cd = [f"cd {shlex.quote(str(root))}"] if root != Path(".") else []
    steps = [
        *cd,
        "hookline check pipelines/ && hookline test pipelines/   # tests run offline",
        "hookline run --env-file .env pipelines/greet-user.yaml --input '{\"user_id\": 1}'",
    ]
    return (
        "next: "
        + "\n      ".join(steps)
        + "\n      (the example calls a public test API, jsonplaceholder.typicode.com, "
        "unless API_URL is set in .env)"
    )


def _write(root: Path, name: str, text: str) -> None:
    """Create ``root/name``, never through a symbolic link and never over a file: each
    folder is opened from the one above it with O_NOFOLLOW, the file with O_EXCL."""
    *folders, base = name.split("/")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for folder in folders:
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder, dir_fd=fd)
            inner = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        mode = 0o600 if name in PRIVATE else 0o666  # less the umask, as any new file
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        out = os.open(base, flags, mode, dir_fd=fd)
        with os.fdopen(out, "w", encoding="utf-8") as stream:
            stream.write(text)
    finally:
        os.close(fd)
