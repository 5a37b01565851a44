"""A run remembers files that passed every check, and skips only the schema pass."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PIPELINE = """\
version: 1
name: cached
steps:
  - id: greet
    set: "hello ${{ input.name }}"
output: "${{ steps.greet }}"
"""

PROBE = textwrap.dedent("""
    import sys
    from hookline.cli import run_pipeline_main
    code = run_pipeline_main([sys.argv[1], "--input", '{"name": "Ana"}', "-q"])
    print(code, "jsonschema" in sys.modules)
""")


def run(path, home):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        env={"HOOKLINE_HOME": str(home), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_second_run_skips_jsonschema_and_a_changed_file_is_checked_again(tmp_path):
    home = tmp_path / "home"
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    assert run(path, home) == "0 True"  # first run: full validation
    assert len(list((home / "validated").iterdir())) == 1
    assert run(path, home) == "0 False"  # same bytes: no schema pass, no jsonschema

    path.write_text(PIPELINE.replace("set:", "sett:"), encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from hookline.cli import main; raise SystemExit(main())",
            "run",
            str(path),
        ],
        env={"HOOKLINE_HOME": str(home), "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "unknown key 'sett'; did you mean 'set'?" in proc.stderr


def test_check_always_validates_and_remembers_nothing(cli, write, tmp_path, monkeypatch):
    monkeypatch.setenv("HOOKLINE_HOME", str(tmp_path / "home"))
    assert cli("check", write("p.yaml", PIPELINE)).code == 0
    assert not (tmp_path / "home" / "validated").exists()
