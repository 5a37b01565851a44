"""Bad answers at run time: a named step, a clear message, a failed run (exit 1)."""

from __future__ import annotations

from pipeline_runner import run_yaml

from hookline._store_read import History

PIPELINE = """
    version: 1
    name: errors
    connections:
      api:
        rest: {{base_url: {url}}}
    steps:
      - id: call
        rest: {{connection: api, path: {path}{extra}}}
{more}
    output: "${{{{ steps.call }}}}"
"""


def make(url, path, extra="", more=""):
    return PIPELINE.format(url=url, path=path, extra=extra, more=more)


def test_result_shape_for_json_and_text(rest_server, tmp_path, capsys):
    result = run_yaml(
        tmp_path, make(rest_server.url, "/echo", ", params: {q: [a, b]}"), capsys=capsys
    )
    assert result.code == 0, result.err
    out = result.output
    assert out["status"] == 200
    assert out["headers"]["content-type"] == "application/json"
    assert out["body"]["query"] == {"q": ["a", "b"]}
    text = run_yaml(tmp_path, make(rest_server.url, "/text"), capsys=capsys)
    assert text.output["body"] == "hello"


def test_invalid_json_names_the_step_and_shows_the_first_bytes(rest_server, tmp_path, capsys):
    result = run_yaml(tmp_path, make(rest_server.url, "/invalid-json"), capsys=capsys)
    assert result.code == 1
    assert (
        f"error: step 'call' failed: GET {rest_server.url}/invalid-json answered 200 with "
        "Content-Type application/json but the body is not valid JSON" in result.err
    )
    assert "it begins: '{\"broken\": '" in result.err


def test_upstream_500_html_page(rest_server, tmp_path, capsys):
    result = run_yaml(tmp_path, make(rest_server.url, "/html-error"), capsys=capsys)
    assert result.code == 1
    assert f"error: step 'call' failed: GET {rest_server.url}/html-error answered 500" in result.err


def test_expect_accepts_listed_statuses(rest_server, tmp_path, capsys):
    result = run_yaml(
        tmp_path, make(rest_server.url, "/status/404", ", expect: ['2xx', 404]"), capsys=capsys
    )
    assert result.code == 0, result.err
    assert result.output["status"] == 404


def test_on_error_continue_exposes_status_and_message(rest_server, tmp_path, capsys):
    text = make(
        rest_server.url,
        "/status/422",
        "",
        "        on_error: continue\n"
        "      - id: after\n"
        '        set: "${{ steps.call.error.status }}"',
    )
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output["error"]["status"] == 422
    assert result.output["error"]["step"] == "call"


def test_failed_run_is_recorded_with_the_step_and_the_response(rest_server, tmp_path, capsys):
    result = run_yaml(tmp_path, make(rest_server.url, "/status/502"), capsys=capsys)
    assert result.code == 1
    with History(result.db) as history:
        (listed,) = history.list_runs()
        run = history.get_run(listed["id"])
    assert run["status"] == "failed"
    assert run["error"].startswith(
        f"step 'call' failed: GET {rest_server.url}/status/502 answered 502"
    )
    assert [s["status"] for s in run["steps"]] == ["failed"]
    assert [a["response"]["status"] for a in run["attempts"]] == [502]
