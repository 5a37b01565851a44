"""``hookline init [DIR]``: start a project that checks, tests and runs at once.

It writes an example pipeline and its offline test, the JSON Schemas where the files'
modelines and the editor settings find them (``schemas/`` beside ``pipelines/``: a
modeline's ``../schemas/...`` resolves in the user's project, not only in hookline's),
an ``.env`` with a project-local hookline home, a ``.gitignore`` for it and a working
pre-commit configuration. It never overwrites: when any of these files exists it lists
them, writes nothing and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

from .._errors import UsageError

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
        "overwrites: when any of them exists, lists them and writes nothing (exit 2).",
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
    existing = [name for name in files if (root / name).exists() or (root / name).is_symlink()]
    if existing:
        raise UsageError(f"{root}: init writes nothing, these files exist: {', '.join(existing)}")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as out:  # "x": never over a file made since
            out.write(text)
    print(f"started a hookline project in {root}:", file=sys.stderr)
    for name in files:
        print(f"  {name}", file=sys.stderr)
    print(
        "next: hookline check pipelines/ && hookline test pipelines/\n"
        "      hookline run --env-file .env pipelines/greet-user.yaml --input '{\"user_id\": 1}'",
        file=sys.stderr,
    )
    return 0
