"""check --skip-non-pipelines (the pre-commit hook): other YAML is skipped with a note,
a pipeline never is, broken or not."""

from __future__ import annotations

import pytest

NOTE = (
    "not a hookline pipeline (no top-level 'version: 1' or 'steps:', no hookline $schema "
    "modeline): skipped"
)

OTHER_YAML = {
    "compose.yaml": 'version: "3.8"\nservices:\n  web: {image: nginx}\n',
    "workflow.yml": "name: ci\non: push\njobs:\n  test:\n    steps: [{run: make}]\n",
    "data.yaml": "- {name: Ada}\n- {name: Bob}\n",
    "k8s.yaml": "apiVersion: v1\nkind: ConfigMap\n",
}

BROKEN_PIPELINES = {
    # YAML that does not parse, but shows it is a pipeline
    "unparsable.yaml": "version: 1\nname: x\nsteps:\n  - id: a\n   set: 1\n",
    # no version (the schema requires it): still has top-level steps
    "no-version.yaml": "name: x\nsteps:\n  - id: a\n    set: 1\n",
    # version 1 and nothing else right
    "only-version.yaml": "version: 1\nstesp: []\n",
    # a quoted version
    "quoted-version.yaml": "version: '1'\nname: x\nsteps: [{id: a, set: 1}]\n",
    # flow style
    "flow.yaml": "{version: 1, name: x}\n",
    # only the modeline says so
    "modeline.yaml": "# yaml-language-server: $schema=../schemas/pipeline.schema.json\nnam: x\n",
    # a test file, by its name
    "x.test.yaml": "cases: 3\n",
}


def test_other_yaml_is_skipped_with_a_note(cli, write):
    paths = [write(name, text) for name, text in OTHER_YAML.items()]
    result = cli("check", "--skip-non-pipelines", *paths)
    assert result.code == 0, result.out + result.err
    assert result.err.splitlines()[:-1] == [f"note: {p}: {NOTE}" for p in paths]


@pytest.mark.parametrize("name", sorted(BROKEN_PIPELINES))
def test_a_broken_pipeline_is_never_skipped(cli, write, name):
    path = write(name, BROKEN_PIPELINES[name])
    result = cli("check", "--skip-non-pipelines", path)
    assert result.code == 2, result.err
    assert "skipped" not in result.err
    assert result.out.startswith(f"{path}:")


def test_without_the_option_every_file_is_checked(cli, write):
    path = write("compose.yaml", OTHER_YAML["compose.yaml"])
    result = cli("check", path)
    assert result.code == 2
    assert "note:" not in result.err
