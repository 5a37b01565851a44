"""``hookline serve`` warns about a weak secret as ``hookline run`` does: once per
pipeline when it loads the directory, naming the secret and the file, never its value."""

from __future__ import annotations

import signal
from pathlib import Path

from serve_support import SIGNED, Serve, hook

WEAK = "abc123"  # shorter than 8 characters


def _warning(path: Path, name: str) -> str:
    return (
        f"warning: {path}: secret {name} is shorter than 8 characters: its value is masked "
        "as *** wherever it appears, inside other words and hookline's own messages too; "
        "check that it holds the real credential, not a placeholder"
    )


def test_serve_warns_once_per_pipeline_about_a_weak_secret(tmp_path: Path) -> None:
    directory = tmp_path / "p"
    directory.mkdir()
    weak = directory / "weak.yaml"
    weak.write_text(
        hook("weak", "/hooks/weak", trigger_extra=SIGNED, secrets="[HOOK_SECRET, SHORT_KEY]")
    )
    strong = directory / "strong.yaml"
    strong.write_text(hook("strong", "/hooks/strong", trigger_extra=SIGNED))
    with Serve(directory, tmp_path / "home", env={"SHORT_KEY": WEAK}) as serve:
        assert serve.post("/hooks/weak", {}).status == 202
        assert serve.lines.count(_warning(weak, "SHORT_KEY")) == 1
        assert serve.proc is not None
        serve.proc.send_signal(signal.SIGHUP)  # a reload loads the secrets again: so says it
        assert serve.wait_for(r"SIGHUP: reloaded") is not None
    assert serve.lines.count(_warning(weak, "SHORT_KEY")) == 2
    assert not any("HOOK_SECRET is" in line for line in serve.lines)  # a strong one: quiet
    assert not any(strong.name in line and "secret" in line for line in serve.lines)
    assert WEAK not in serve.stderr
