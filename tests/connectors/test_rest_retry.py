"""Retries: backoff, Retry-After, what is retried and what is not, each attempt logged."""

from __future__ import annotations

import socket

from pipeline_runner import run_yaml

PIPELINE = """
    version: 1
    name: retries
    connections:
      api:
        rest:
          base_url: {url}
          timeout: {timeout}
          retry: {{attempts: {attempts}, initial_delay: 50ms, max_delay: 200ms{extra}}}
    steps:
      - id: call
        rest: {{connection: api, method: {method}, path: "{path}"}}
    output: "${{{{ steps.call.body }}}}"
"""


def make(url, path, method="GET", attempts=4, extra="", timeout="5s"):
    return PIPELINE.format(
        url=url, path=path, method=method, attempts=attempts, extra=extra, timeout=timeout
    )


def test_503_is_retried_until_it_succeeds_and_each_attempt_is_logged(rest_server, tmp_path, capsys):
    result = run_yaml(tmp_path, make(rest_server.url, "/flaky/a?fail=2"), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"ok": True, "attempt": 3}
    assert rest_server.attempts["a"] == 3
    lines = [line for line in result.err.splitlines() if "retrying" in line]
    assert len(lines) == 2
    assert lines[0].startswith("warning: call: attempt 1 answered 503; retrying in ")
    assert lines[0].endswith("(attempt 2 of 4)")


def test_retry_after_in_seconds_is_honoured(rest_server, tmp_path, capsys):
    result = run_yaml(
        tmp_path,
        make(rest_server.url, "/flaky/b?fail=1&status=429&retry_after=1"),
        capsys=capsys,
    )
    assert result.code == 0, result.err
    first, second = rest_server.requests_to("/flaky/b")
    assert second.time - first.time >= 0.99  # the backoff alone would be at most 0.2 s


def test_retry_after_as_an_http_date_is_honoured(rest_server, tmp_path, capsys):
    result = run_yaml(
        tmp_path,
        make(rest_server.url, "/flaky/c?fail=1&status=503&retry_after=2&retry_after_format=date"),
        capsys=capsys,
    )
    assert result.code == 0, result.err
    first, second = rest_server.requests_to("/flaky/c")
    # An HTTP date has whole seconds: the wait is between 1 and 2 seconds.
    assert second.time - first.time >= 0.9


def test_post_is_not_retried_on_503_unless_idempotent(rest_server, tmp_path, capsys):
    result = run_yaml(
        tmp_path, make(rest_server.url, "/flaky/d?fail=1", method="POST"), capsys=capsys
    )
    assert result.code == 1
    assert rest_server.attempts["d"] == 1
    assert f"error: step 'call' failed: POST {rest_server.url}/flaky/d answered 503" in result.err

    rest_server.reset()
    result = run_yaml(
        tmp_path,
        make(rest_server.url, "/flaky/e?fail=1", method="POST", extra=", idempotent: true"),
        capsys=capsys,
    )
    assert result.code == 0, result.err
    assert rest_server.attempts["e"] == 2


def test_post_is_retried_on_429_which_means_not_processed(rest_server, tmp_path, capsys):
    result = run_yaml(
        tmp_path,
        make(rest_server.url, "/flaky/f?fail=2&status=429", method="POST"),
        capsys=capsys,
    )
    assert result.code == 0, result.err
    assert rest_server.attempts["f"] == 3


def test_attempts_run_out_with_a_clear_error(rest_server, tmp_path, capsys):
    result = run_yaml(tmp_path, make(rest_server.url, "/flaky/g?fail=9", attempts=3), capsys=capsys)
    assert result.code == 1
    assert rest_server.attempts["g"] == 3
    assert (
        f"error: step 'call' failed: GET {rest_server.url}/flaky/g answered 503 "
        "Service Unavailable" in result.err
    )


def test_500_is_not_retried_by_default(rest_server, tmp_path, capsys):
    result = run_yaml(tmp_path, make(rest_server.url, "/flaky/h?fail=1&status=500"), capsys=capsys)
    assert result.code == 1
    assert rest_server.attempts["h"] == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_connection_is_retried_even_for_post_then_fails(tmp_path, capsys):
    url = f"http://127.0.0.1:{_free_port()}"
    result = run_yaml(tmp_path, make(url, "/x", method="POST", attempts=3), capsys=capsys)
    assert result.code == 1
    assert result.err.count("the connection was refused; retrying") == 2
    assert f"error: step 'call' failed: POST {url}/x: the connection was refused" in result.err


def test_a_timeout_names_the_step_and_the_limit(rest_server, tmp_path, capsys):
    result = run_yaml(
        tmp_path,
        make(rest_server.url, "/slow?seconds=2", attempts=1, timeout="300ms"),
        capsys=capsys,
    )
    assert result.code == 1
    assert (
        f"error: step 'call' failed: GET {rest_server.url}/slow: no complete answer within 0.3s "
        "(timeout)" in result.err
    )


def test_a_post_that_timed_out_is_not_repeated(rest_server, tmp_path, capsys):
    result = run_yaml(
        tmp_path,
        make(rest_server.url, "/slow?seconds=1", method="POST", attempts=3, timeout="200ms"),
        capsys=capsys,
    )
    assert result.code == 1
    assert len(rest_server.requests_to("/slow")) == 1
    assert "not retried: a POST may have reached the server; set idempotent: true" in result.err
