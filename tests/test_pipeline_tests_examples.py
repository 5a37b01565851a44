"""Every example in pipelines/ has a test file, and ``hookline test pipelines/`` passes."""

from __future__ import annotations

from support import ROOT

EXAMPLES_DIR = ROOT / "pipelines"


def test_every_example_has_a_test_file_with_cases():
    examples = [p for p in EXAMPLES_DIR.glob("*.yaml") if not p.name.endswith(".test.yaml")]
    missing = [p.name for p in examples if not p.with_name(p.stem + ".test.yaml").is_file()]
    assert examples
    assert missing == []


def test_the_examples_tests_pass(cli):
    result = cli("test", str(EXAMPLES_DIR))
    assert result.code == 0, result.out + result.err
    assert "FAIL" not in result.out
    tests = len(list(EXAMPLES_DIR.glob("*.test.yaml")))
    assert result.out.count("PASS") >= 2 * tests  # a success and a failure path at least


def test_the_examples_tests_are_valid_for_check(cli):
    files = sorted(str(p) for p in EXAMPLES_DIR.glob("*.test.yaml"))
    result = cli("check", *files)
    assert result.code == 0, result.out + result.err
    assert result.err.strip() == f"{len(files)} files checked: all valid"


def test_the_test_file_shown_in_docs_testing_passes(cli, tmp_path):
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    blocks = text.split("```yaml\n")[1:]
    example = next(b.split("```")[0] for b in blocks if "\ncases:\n" in b)
    assert "pipeline: contacts-to-airtable.yaml" in example
    pipeline = (EXAMPLES_DIR / "contacts-to-airtable.yaml").read_text(encoding="utf-8")
    (tmp_path / "contacts-to-airtable.yaml").write_text(pipeline, encoding="utf-8")
    (tmp_path / "docs-example.test.yaml").write_text(example, encoding="utf-8")
    result = cli("test", str(tmp_path))
    assert result.code == 0, result.out + result.err
    assert result.out.count("PASS") == 2
