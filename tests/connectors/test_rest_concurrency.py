"""for_each with concurrency against the server: ordered results, the rate limit held."""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from pipeline_runner import run_yaml

PIPELINE = """
    version: 1
    name: fan-out
    connections:
      api:
        rest: {{base_url: {url}, rate_limit: {rate}}}
    steps:
      - id: each
        for_each:
          items: input
          concurrency: 8
          steps:
            - id: call
              rest:
                connection: api
                method: POST
                path: /echo
                json: {{n: "${{{{ item }}}}"}}
          output: "${{{{ steps.call.body.json.n }}}}"
    output: "${{{{ steps.each }}}}"
"""


def test_results_keep_input_order(rest_server, tmp_path, capsys):
    result = run_yaml(
        tmp_path,
        PIPELINE.format(url=rest_server.url, rate="1000/s"),
        input=list(range(120)),
        capsys=capsys,
    )
    assert result.code == 0, result.err
    assert result.output == list(range(120))
    # they really ran at once: more than one connection was used
    assert rest_server.connections > 1


@pytest.fixture
def clock_server():
    """A server in its own process that notes arrival times (see servers/clock_server.py)."""
    script = Path(__file__).resolve().parents[1] / "servers" / "clock_server.py"
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        # a server that hangs before printing its port fails the test, not hangs it
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, f"the clock server printed no port in 60 s (exit {proc.poll()})"
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_declared_rate_is_never_exceeded_in_any_window(clock_server, tmp_path, capsys):
    """10/s with 8 workers and 35 requests: no one-second window holds more than 10
    arrivals, as the server itself counts them."""
    text = PIPELINE.format(url=clock_server, rate="10/s").replace("path: /echo", "path: /hit")
    text = text.replace("steps.call.body.json.n", "steps.call.body.ok")
    result = run_yaml(tmp_path, text, input=list(range(35)), capsys=capsys)
    assert result.code == 0, result.err
    times = sorted(requests.get(f"{clock_server}/arrivals", timeout=5).json())
    assert len(times) == 35

    def busiest(width: float) -> int:
        return max(sum(1 for t in times[i:] if t < s + width) for i, s in enumerate(times))

    # The limit is enforced on the stamps taken just before each send (a window of
    # 1.1 s: the 10 % margin); the server sees arrivals, which scheduling on a loaded
    # machine can bunch by a few hundred ms, so it judges a 0.8 s window. Without the
    # limiter, 8 workers would put all 35 in it.
    assert busiest(0.8) <= 10
    # 35 at 10 per 1.1 s: the 31st is sent at least 3.3 s after the 1st
    assert times[-1] - times[0] >= 2.5
    assert busiest(1.0) >= 6  # and the limit is used, not wasted


def test_airtable_rate_limit_is_met_without_a_single_429(
    rest_server, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("AIRTABLE_TOKEN", rest_server.airtable_token)
    text = f"""
        version: 1
        name: burst
        secrets: [AIRTABLE_TOKEN]
        connections:
          airtable:
            rest:
              base_url: {rest_server.url}/v0/appTest
              auth: {{bearer: "${{{{ secrets.AIRTABLE_TOKEN }}}}"}}
              rate_limit: 5/s
        steps:
          - id: write
            for_each:
              items: input
              concurrency: 16
              steps:
                - id: create
                  rest:
                    connection: airtable
                    method: POST
                    path: /Leads
                    json: {{fields: {{n: "${{{{ item }}}}"}}}}
    """
    result = run_yaml(tmp_path, text, input=list(range(16)), capsys=capsys)
    assert result.code == 0, result.err
    assert rest_server.rate_limited == 0
    assert len(rest_server.tables["Leads"]) == 16
