"""``hookline check`` remembers files that passed; a change to them, or to a file they
refer to, makes the next check read them again.

Each check runs in a fresh interpreter, which reports whether it imported PyYAML: a
remembered file is not parsed, so a check of only remembered files never imports it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from support import ROOT

_PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from hookline.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(sys.argv[1:])
    print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(),
                      "parsed": "yaml" in sys.modules}))
    """
)


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


def test_an_unchanged_file_is_not_checked_again_and_a_changed_one_is(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pipeline = tmp_path / "greet.yaml"
    pipeline.write_text(
        "version: 1\nname: greet\nsteps:\n  - id: hi\n    set: hello\n", encoding="utf-8"
    )
    first = check(home, str(pipeline))
    assert first == {"code": 0, "out": "", "err": "1 file checked: all valid\n", "parsed": True}
    again = check(home, str(pipeline))
    assert again == {**first, "parsed": False}

    pipeline.write_text(
        "version: 1\nname: greet\nsteps:\n  - id: hi\n    sett: hello\n", encoding="utf-8"
    )
    changed = check(home, str(pipeline))
    assert changed["code"] == 2
    assert changed["parsed"] is True
    assert f"{pipeline}:5:5: steps[0]: unknown key 'sett'; did you mean 'set'?" in str(
        changed["out"]
    )


def test_no_cache_checks_in_full(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pipeline = tmp_path / "greet.yaml"
    pipeline.write_text(
        "version: 1\nname: greet\nsteps:\n  - id: hi\n    set: hello\n", encoding="utf-8"
    )
    check(home, str(pipeline))
    assert check(home, "--no-cache", str(pipeline))["parsed"] is True
    assert check(home, str(pipeline))["parsed"] is False


def test_an_edited_graphql_schema_file_invalidates_every_pipeline_using_it(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    project = tmp_path / "project"
    shutil.copytree(ROOT / "pipelines" / "graphql", project / "graphql")
    source = (ROOT / "pipelines" / "tag-vip-customers.yaml").read_text(encoding="utf-8")
    # Two pipelines naming the same SDL file: it is parsed once, for the first one only.
    for name in ("a", "b"):
        (project / f"{name}.yaml").write_text(
            source.replace("name: tag-vip-customers", f"name: vip-{name}"), encoding="utf-8"
        )
    assert check(home, str(project))["err"] == "2 files checked: all valid\n"
    assert check(home, str(project))["parsed"] is False

    sdl = project / "graphql" / "shop.graphql"
    text = sdl.read_text(encoding="utf-8")
    assert "amountSpent" in text
    sdl.write_text(text.replace("amountSpent", "totalSpent"), encoding="utf-8")
    report = check(home, str(project))
    assert report["code"] == 2
    assert report["parsed"] is True
    out = str(report["out"])
    for name in ("a", "b"):
        assert f"{project / name}.yaml:" in out
    assert "Cannot query field 'amountSpent' on type 'Customer'" in out


def test_an_edited_wsdl_invalidates_the_pipeline_and_a_missing_one_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    project = tmp_path / "project"
    shutil.copytree(ROOT / "pipelines" / "wsdl", project / "wsdl")
    shutil.copy(ROOT / "pipelines" / "signups-to-crm.yaml", project / "crm.yaml")
    assert check(home, str(project))["code"] == 0
    assert check(home, str(project))["parsed"] is False

    wsdl = project / "wsdl" / "crm.wsdl"
    wsdl.write_text(wsdl.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    report = check(home, str(project))
    assert (report["code"], report["parsed"]) == (0, True)
    assert check(home, str(project))["parsed"] is False

    wsdl.unlink()
    report = check(home, str(project))
    assert report["code"] == 2
    assert "WSDL file 'wsdl/crm.wsdl' not found" in str(report["out"])


def test_an_edited_xsd_that_the_wsdl_imports_invalidates_the_pipeline(tmp_path: Path) -> None:
    home = tmp_path / "home"
    project = tmp_path / "project"
    (project / "wsdl").mkdir(parents=True)
    wsdl = (ROOT / "pipelines" / "wsdl" / "crm.wsdl").read_text(encoding="utf-8")
    start, end = wsdl.index("<xsd:schema"), wsdl.index("</xsd:schema>") + len("</xsd:schema>")
    schema = wsdl[start:end].replace(
        "<xsd:schema", '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"', 1
    )
    xsd = project / "wsdl" / "contacts.xsd"
    xsd.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n{schema}\n', encoding="utf-8")
    imported = (
        '<xsd:schema><xsd:import namespace="urn:example:crm:contacts" '
        'schemaLocation="contacts.xsd"/></xsd:schema>'
    )
    (project / "wsdl" / "crm.wsdl").write_text(
        wsdl[:start] + imported + wsdl[end:], encoding="utf-8"
    )
    shutil.copy(ROOT / "pipelines" / "signups-to-crm.yaml", project / "crm.yaml")
    assert check(home, str(project))["code"] == 0
    assert check(home, str(project))["parsed"] is False

    xsd.write_text(xsd.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    report = check(home, str(project))
    assert (report["code"], report["parsed"]) == (0, True)


def test_a_damaged_or_unwritable_cache_only_costs_a_full_check(tmp_path: Path) -> None:
    pipeline = tmp_path / "greet.yaml"
    pipeline.write_text(
        "version: 1\nname: greet\nsteps:\n  - id: hi\n    set: hello\n", encoding="utf-8"
    )
    valid = {"code": 0, "out": "", "err": "1 file checked: all valid\n", "parsed": True}
    damaged = tmp_path / "damaged"
    (damaged / "checked").mkdir(parents=True)
    (damaged / "checked" / "passes.db").write_bytes(b"not a database" * 100)
    assert check(damaged, str(pipeline)) == valid
    # The damaged file held nothing but passes: it was made anew.
    assert check(damaged, str(pipeline)) == {**valid, "parsed": False}

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "checked").write_text("a file where the folder goes", encoding="utf-8")
    assert check(blocked, str(pipeline)) == valid
    assert check(blocked, str(pipeline)) == valid


def test_passes_are_remembered_across_batches(tmp_path: Path) -> None:
    from hookline._checkcache import BATCH

    project = tmp_path / "project"
    project.mkdir()
    for n in range(BATCH + 3):
        (project / f"p{n:03}.yaml").write_text(
            f"version: 1\nname: p{n}\nsteps:\n  - id: hi\n    set: hello {n}\n", encoding="utf-8"
        )
    home = tmp_path / "home"
    first = check(home, "--jobs", "1", str(project))
    assert (first["code"], first["err"]) == (0, f"{BATCH + 3} files checked: all valid\n")
    assert check(home, "--jobs", "1", str(project)) == {**first, "parsed": False}


def test_passes_are_forgotten_when_hooklines_own_code_changes() -> None:
    # An editable install whose code changed under the same version (a new check) must
    # not trust passes made by the old code. The module's content is left as it was.
    import os

    import hookline._checkcache as checkcache

    module = checkcache.__file__
    before = checkcache._code_stamp()
    st = os.stat(module)
    newest = max(
        os.stat(os.path.join(here, name)).st_mtime_ns
        for here, _dirs, names in os.walk(os.path.dirname(module))
        for name in names
        if name.endswith(".py")
    )
    try:
        # Newer than every module, whichever was edited last.
        os.utime(module, ns=(st.st_atime_ns, newest + 10**9 * 3600))
        assert checkcache._code_stamp() != before
    finally:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert checkcache._code_stamp() == before
