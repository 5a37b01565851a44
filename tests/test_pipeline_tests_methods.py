"""A test file's ``method`` (in ``expect.requests`` and in an answer's ``when``) is one
of the pipeline schema's methods: a typo is a located error with "did you mean", from
``hookline check`` and ``hookline test`` alike."""

from __future__ import annotations

PIPELINE = """\
version: 1
name: p
connections:
  api:
    rest: {base_url: "https://x.test"}
steps:
  - id: create
    rest: {connection: api, method: POST, path: /a}
"""

TESTS = """\
version: 1
cases:
  - name: one
    answers:
      create:
        when: {method: POSTT}
        json: {}
    expect:
      requests:
        create:
          - method: GETT
"""

PROBLEMS = [
    "p.test.yaml:6:24: cases[0].answers.create.when.method: 'POSTT' (a string) is not one "
    "of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS; did you mean 'POST'?",
    "p.test.yaml:11:21: cases[0].expect.requests.create[0].method: 'GETT' (a string) is not "
    "one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS; did you mean 'GET'?",
]


def test_a_mistyped_method_is_a_located_error(cli, write, tmp_path, monkeypatch):
    write("p.yaml", PIPELINE)
    write("p.test.yaml", TESTS)
    monkeypatch.chdir(tmp_path)
    checked = cli("check", "p.test.yaml")
    assert checked.code == 2
    shown = checked.out.splitlines() + checked.err.splitlines()
    assert sorted(line for line in shown if line.startswith("p.test.yaml:")) == sorted(PROBLEMS)
    tested = cli("test", "p.test.yaml")
    assert tested.code == 2
    assert tested.err.splitlines() == PROBLEMS
