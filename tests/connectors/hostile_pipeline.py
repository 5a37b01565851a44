"""A one-step pipeline against a hostile server, written per test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline_runner import Outcome, run_yaml

SECRET = "hlt_Zq8Rw3Nf6Tk1Vb4Yc7Xe"


def pipeline(
    connection: dict[str, Any],
    step: dict[str, Any],
    *,
    on_error: str | None = None,
    output: str = "${{ steps.call }}",
    timeout: str | None = None,
) -> str:
    """A pipeline with one `rest` connection 'api' and one step 'call' (JSON is YAML)."""
    call: dict[str, Any] = {"id": "call", "rest": {"connection": "api", **step}}
    if on_error:
        call["on_error"] = on_error
    if timeout:
        call["timeout"] = timeout
    doc = {
        "version": 1,
        "name": "hostile",
        "secrets": ["TOKEN"],
        "connections": {"api": {"rest": connection}},
        "steps": [call],
        "output": output,
    }
    return json.dumps(doc, indent=2)


def run(tmp_path: Path, text: str, capsys: Any, monkeypatch: Any, *args: str) -> Outcome:
    monkeypatch.setenv("TOKEN", SECRET)
    return run_yaml(tmp_path, text, *args, capsys=capsys)
