"""``hookline test``: answers matched by step, iteration, order and request; every
assertion kind failing with its diff; located errors; exit codes; reports for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

PIPELINE = """\
version: 1
name: orders
secrets: [SHOP_TOKEN]
vars:
  base: https://shop.example.com/api
connections:
  shop:
    rest:
      base_url: "${{ vars.base }}"
      auth: {bearer: "${{ secrets.SHOP_TOKEN }}"}
      retry: {attempts: 3, on_status: [503]}
steps:
  - id: list
    rest:
      connection: shop
      path: /orders
      params: {status: open}
      paginate:
        cursor: {next: body.next, param: cursor}
        items: body.orders
  - id: each
    for_each:
      items: steps.list.items
      steps:
        - id: ship
          rest:
            connection: shop
            method: POST
            path: "/orders/${{ item.id }}/ship"
            json: {carrier: "${{ item.carrier || 'ups' }}"}
      output: "${{ steps.ship.body.tracking }}"
output:
  shipped: "${{ steps.each }}"
  pages: "${{ steps.list.pages }}"
save_state:
  last: "${{ steps.list.items[-1].id }}"
"""

PAGES = """\
      list:
        - json: {orders: [{id: 1}, {id: 2, carrier: dhl}], next: c2}
        - json: {orders: [{id: 3}], next: null}
"""


@pytest.fixture
def suite(tmp_path: Path):
    (tmp_path / "orders.yaml").write_text(PIPELINE, encoding="utf-8")

    def write(cases: str, head: str = "") -> str:
        path = tmp_path / "orders.test.yaml"
        path.write_text(f"version: 1\n{head}cases:\n{cases}", encoding="utf-8")
        return str(path)

    return write


def case(body: str) -> str:
    return "  - name: one\n" + body


GOOD = case(
    "    answers:\n"
    + PAGES
    + """\
      ship: {status: 201, json: {tracking: T-1}}
      ship[1]: {status: 201, json: {tracking: T-2}}
"""
)


def test_a_passing_case_prints_one_line_and_a_summary(cli, suite):
    path = suite(
        GOOD
        + """\
    expect:
      output: {shipped: [T-1, T-2, T-1], pages: 2}
      state: {last: 3}
"""
    )
    result = cli("test", path)
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[0].startswith(f"PASS  {path}: one (")
    assert lines[-1].startswith("1 case: 1 passed (")


def test_pages_are_answered_in_order_and_asserted_in_order(cli, suite):
    path = suite(
        GOOD
        + """\
    expect:
      requests:
        list:
          - url: https://shop.example.com/api/orders?status=open
          - {url: "https://shop.example.com/api/orders?status=open&cursor=c2", query: {cursor: c2}}
        ship:
          count: 3
          method: POST
          headers: {Authorization: "Bearer ***"}
        ship[1]:
          - {path: /api/orders/2/ship, json: {carrier: dhl}}
"""
    )
    result = cli("test", path)
    assert result.code == 0, result.out


def test_an_iteration_answer_wins_over_the_step_answer_and_when_matches_the_request(cli, suite):
    path = suite(
        case(
            "    answers:\n"
            + PAGES
            + """\
      ship:
        - when: {method: POST, path: /api/orders/3/ship, json: {carrier: ups}}
          status: 201
          json: {tracking: by-request}
        - {status: 201, json: {tracking: plain}}
      ship[0]: {status: 201, json: {tracking: first}}
    expect:
      output: {shipped: [first, plain, by-request], pages: 2}
"""
        )
    )
    result = cli("test", path)
    assert result.code == 0, result.out


def test_a_list_that_runs_out_fails_the_case(cli, suite):
    path = suite(
        case(
            """\
    answers:
      list:
        - json: {orders: [{id: 1}], next: c2}
"""
        )
    )
    result = cli("test", path)
    assert result.code == 1
    assert (
        "      run: step 'list': the answers of 'list' ran out: it sent request 2, the list "
        "has 1 (GET https://shop.example.com/api/orders?status=open&cursor=c2)"
    ) in result.out


def test_an_unanswered_request_names_step_iteration_method_url_and_the_yaml_to_add(cli, suite):
    path = suite(case("    answers:\n" + PAGES))
    result = cli("test", path)
    assert result.code == 1
    assert result.out.splitlines()[1:6] == [
        "      run: no answer for step 'ship' (iteration 0 of 'each'): POST "
        "https://shop.example.com/api/orders/1/ship",
        "      add to the case:",
        "        answers:",
        "          ship: {status: 200, json: {}}",
        "      (or 'ship[0]:' to answer iteration 0 alone)",
    ]


def test_on_error_cannot_hide_an_unanswered_request(cli, tmp_path):
    (tmp_path / "p.yaml").write_text(
        """\
version: 1
name: p
steps:
  - id: get
    rest: {url: "https://api.example.com/x"}
    on_error: continue
output: "${{ steps.get }}"
""",
        encoding="utf-8",
    )
    (tmp_path / "p.test.yaml").write_text("version: 1\ncases:\n  - name: none\n", encoding="utf-8")
    result = cli("test", str(tmp_path))
    assert result.code == 1
    assert "run: no answer for step 'get': GET https://api.example.com/x" in result.out


def test_retries_take_the_next_answer_without_waiting(cli, suite):
    path = suite(
        case(
            """\
    answers:
      list:
        - {status: 503, json: {error: busy}}
        - json: {orders: [], next: null}
    expect:
      output: {shipped: [], pages: 1}
      requests:
        list: {count: 2}
"""
        )
    )
    result = cli("test", path)
    assert result.code == 0, result.out


FAILING = [
    (
        "      output: {shipped: [T-9], pages: 2}\n",
        [
            "expect.output:",
            '  - {"pages": 2, "shipped": ["T-9"]}',
            '  + {"pages": 2, "shipped": ["T-1", "T-2", "T-1"]}',
        ],
    ),
    (
        '      output_where: {"shipped[1]": T-1}\n',
        ["expect.output_where['shipped[1]']:", "  - T-1", "  + T-2"],
    ),
    ("      status: failed\n", ["expect.status: expected failed, got succeeded"]),
    (
        "      error_contains: boom\n",
        [
            "expect.status: expected failed, got succeeded",
            "expect.error_contains: 'boom' is not in the error None",
        ],
    ),
    ("      state: {last: 1}\n", ["expect.state:", '  - {"last": 1}', '  + {"last": 3}']),
    ('      state_where: {"last": 2}\n', ["expect.state_where['last']:", "  - 2", "  + 3"]),
    (
        "      requests:\n        list: {count: 1}\n",
        [
            "expect.requests.list.count: expected 1 requests, the step sent 2",
            "  sent: GET https://shop.example.com/api/orders?status=open",
            "  sent: GET https://shop.example.com/api/orders?status=open&cursor=c2",
        ],
    ),
    (
        "      requests:\n        ship[2]: {method: PUT, json: {carrier: fedex}}\n",
        [
            "expect.requests.ship[2].method, request 1 of 1:",
            "  - PUT",
            "  + POST",
            "expect.requests.ship[2].json, request 1 of 1:",
            '  - {"carrier": "fedex"}',
            '  + {"carrier": "ups"}',
        ],
    ),
    (
        '      requests:\n        ship[1]:\n          - where: {"json.carrier": ups}\n',
        ["expect.requests.ship[1].where['json.carrier'], request 1 of 1:", "  - ups", "  + dhl"],
    ),
    (  # the list form counts from 1 as the mapping form does: [n] is only an iteration
        "      requests:\n        list:\n          - {method: GET}\n          - {method: PUT}\n",
        ["expect.requests.list.method, request 2 of 2:", "  - PUT", "  + GET"],
    ),
    (
        "      requests:\n        list:\n          - {url: x}\n",
        [
            "expect.requests.list: expected 1 requests, the step sent 2",
            "  sent: GET https://shop.example.com/api/orders?status=open",
            "  sent: GET https://shop.example.com/api/orders?status=open&cursor=c2",
        ],
    ),
]


@pytest.mark.parametrize(("expect", "detail"), FAILING, ids=[f[1][0] for f in FAILING])
def test_each_assertion_fails_with_its_diff(cli, suite, expect, detail):
    path = suite(GOOD + "    expect:\n" + expect)
    result = cli("test", path)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].startswith(f"FAIL  {path}: one (")
    assert lines[1:-1] == [f"      {line}" for line in detail]
    assert lines[-1].startswith("1 case: 0 passed, 1 failed (")


def test_a_failed_run_is_asserted_by_status_error_and_failed_step(cli, suite):
    path = suite(
        case(
            """\
    answers:
      list: {status: 422, json: {error: no stock}}
    expect:
      status: failed
      failed_step: list
      error: 'step ''list'' failed: GET https://shop.example.com/api/orders answered 422 Unprocessable Entity: {"error": "no stock"}'
"""
        )
        + case(
            "    answers:\n"
            + PAGES
            + """\
      ship: {status: 422, json: {error: no stock}}
    expect:
      failed_step: ship
      error_contains: answered 422
"""
        ).replace("name: one", "name: two")
    )
    result = cli("test", path)
    assert result.code == 0, result.out


def test_secrets_are_placeholders_redacted_in_diffs(cli, suite):
    path = suite(
        case(
            """\
    secrets: {SHOP_TOKEN: tok-abcdef-123456}
    answers:
      list: {json: {orders: [{id: tok-abcdef-123456}], next: null}}
      ship: {json: {tracking: tok-abcdef-123456}}
    expect:
      output: {shipped: [leaked], pages: 1}
"""
        )
    )
    result = cli("test", path)
    assert result.code == 1
    assert "tok-abcdef-123456" not in result.out + result.err
    assert '  + {"pages": 1, "shipped": ["***"]}' in result.out


def test_a_result_given_outright_replaces_the_step(cli, suite):
    path = suite(
        case(
            """\
    answers:
      list: {result: {items: [{id: 7}], pages: 1}}
      each: {result: [given]}
    expect:
      output: {shipped: [given], pages: 1}
      requests:
        list: {count: 0}
        ship: {count: 0}
"""
        )
    )
    result = cli("test", path)
    assert result.code == 0, result.out


def test_state_is_given_and_nothing_is_committed(cli, tmp_path):
    (tmp_path / "s.yaml").write_text(
        """\
version: 1
name: s
steps:
  - id: next
    set: "${{ sum([state.count || `0`, `1`]) }}"
output: "${{ steps.next }}"
save_state:
  count: "${{ steps.next }}"
""",
        encoding="utf-8",
    )
    (tmp_path / "s.test.yaml").write_text(
        """\
version: 1
cases:
  - name: counts on
    state: {count: 41}
    expect: {output: 42, state: {count: 42}}
""",
        encoding="utf-8",
    )
    assert cli("test", str(tmp_path / "s.test.yaml")).code == 0
    assert cli("test", str(tmp_path / "s.test.yaml")).code == 0  # same state again
    assert not (tmp_path / "hookline-home").exists()  # no history, no state, no cache


def test_a_schema_mistake_is_located_and_exits_2(cli, suite):
    path = suite(
        """\
  - name: one
    answers:
      list: {staus: 200}
    expect:
      status: done
"""
    )
    result = cli("test", path)
    assert result.code == 2
    assert result.err.splitlines()[:2] == [
        f"{path}:5:14: cases[0].answers.list: unknown key 'staus'; did you mean 'status'?",
        f"{path}:7:15: cases[0].expect.status: 'done' (a string) is not one of succeeded, failed",
    ]


def test_meaning_mistakes_are_located(cli, suite):
    path = suite(
        """\
  - name: one
    secrets: {SHOP_TOKN: x-1234567}
    answers:
      shipp: {status: 200}
      list[2]: {status: 200}
  - name: one
    expect:
      output_where: {"a[": 1}
"""
    )
    result = cli("test", path)
    assert result.code == 2
    err = result.err
    assert f"{path}:4:15: the pipeline declares no secret 'SHOP_TOKN'" in err
    assert f"{path}:6:7: the pipeline has no step 'shipp'" in err
    assert (
        f"{path}:7:7: 'list[2]': step 'list' is not inside a for_each, so it has no "
        "iterations: write 'list'"
    ) in err
    assert f"{path}:8:11: another case is named 'one' (line 3): names must be unique" in err
    assert f"{path}:10:22: " in err


def test_k_selects_cases_and_exit_5_when_none(cli, suite):
    path = suite(GOOD + "  - name: other\n    answers:\n" + PAGES)
    picked = cli("test", path, "-k", "ONE")
    assert picked.code == 0
    assert picked.out.count("PASS") == 1
    none = cli("test", path, "-k", "nothing-like-it")
    assert none.code == 5
    assert "no test case selected by -k 'nothing-like-it'" in none.err


def test_json_format_and_junit_xml(cli, suite, tmp_path):
    bad = "  - name: bad\n    answers:\n" + PAGES + "      ship: {}\n    expect: {status: failed}\n"
    path = suite(GOOD + bad)
    junit = tmp_path / "junit.xml"
    result = cli("test", path, "--format", "json", "--junit", str(junit))
    assert result.code == 1
    doc = json.loads(result.out)
    assert (doc["passed"], doc["failed"]) == (1, 1)
    assert [c["status"] for c in doc["cases"]] == ["passed", "failed"]
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    suite_el = root.find("testsuite")
    assert suite_el is not None
    assert (suite_el.get("tests"), suite_el.get("failures")) == ("2", "1")
    failure = root.find(".//testcase[@name='bad']/failure")
    assert failure is not None
    assert failure.get("message") == "expect.status: expected failed, got succeeded"


def test_an_input_that_breaks_the_input_schema_fails_the_case(cli, tmp_path):
    (tmp_path / "w.yaml").write_text(
        """\
version: 1
name: w
trigger:
  manual:
    input_schema: {type: object, required: [email]}
steps:
  - {id: hi, set: "${{ input.email }}"}
""",
        encoding="utf-8",
    )
    (tmp_path / "w.test.yaml").write_text(
        """\
version: 1
cases:
  - name: no email
    input: {name: x}
    expect: {error_contains: "'email'"}
""",
        encoding="utf-8",
    )
    result = cli("test", str(tmp_path))
    assert result.code == 0, result.out


def test_a_missing_test_file_and_a_pipeline_without_one_are_usage_errors(cli, tmp_path):
    (tmp_path / "p.yaml").write_text("version: 1\n", encoding="utf-8")
    assert cli("test", str(tmp_path / "nope.test.yaml")).code == 2
    result = cli("test", str(tmp_path / "p.yaml"))
    assert result.code == 2
    assert result.err == f"error: {tmp_path / 'p.yaml'}: has no test file beside it (p.test.yaml)\n"


def test_check_checks_test_files_against_their_schema(cli, suite):
    path = suite("  - name: one\n    expect: {outptu: 1}\n")
    result = cli("check", str(Path(path).parent))
    assert result.code == 2
    assert f"{path}:4:14: cases[0].expect: unknown key 'outptu'; did you mean 'output'?" in (
        result.out + result.err
    )


def test_values_that_differ_only_in_a_secret_say_so_without_showing_it(cli, suite):
    path = suite(
        case(
            """\
    secrets: {SHOP_TOKEN: tok-abcdef-123456}
    answers:
      list: {json: {orders: [{id: 1}], next: null}}
      ship: {json: {tracking: "***"}}
    expect:
      output_where: {"shipped[0]": tok-abcdef-123456}
"""
        )
    )
    result = cli("test", path)
    assert result.code == 1
    assert result.out.splitlines()[1:5] == [
        "      expect.output_where['shipped[0]']:",
        "        - ***",
        "        + ***",
        "        (they differ only in the value of a secret, which is not shown)",
    ]


def test_check_and_test_report_a_test_file_that_is_not_yaml(cli, suite):
    path = suite("  - name: one\n    expect: {output: [1, 2}\n")
    checked = cli("check", path)
    assert checked.code == 2
    problem = (
        f"{path}:4:27: expected ',' or ']' here, found '}}': is a ',' missing, or is the '[' "
        "at line 4, column 22 never closed?"
    )
    assert checked.out.splitlines() == [problem]
    tested = cli("test", path)
    assert tested.code == 2
    assert tested.err.splitlines() == [problem]
    assert tested.out.startswith("0 cases: 0 passed, 1 invalid file (")


def test_answers_no_request_took_are_noted(cli, suite):
    path = suite(
        case(
            """\
    answers:
      list:
        - json: {orders: [{id: 1}], next: null}
        - json: {orders: [{id: 9}], next: null}
      ship: {status: 201, json: {tracking: T-1}}
      ship[4]: {status: 201, json: {tracking: never}}
    expect:
      output: {shipped: [T-1], pages: 1}
"""
        )
    )
    result = cli("test", path)
    assert result.code == 0, result.out
    assert result.out.splitlines()[1:3] == [
        "      note: only 1 of the 2 answers of 'list' were taken",
        "      note: no request took the answers of 'ship[4]'",
    ]


def test_verbose_shows_the_run_log_redacted(cli, suite):
    path = suite(
        GOOD.replace(
            "    answers:\n", "    secrets: {SHOP_TOKEN: tok-abcdef-123456}\n    answers:\n"
        )
    )
    result = cli("test", path, "-v")
    assert result.code == 0, result.out
    assert "      log:\n" in result.out
    assert "list: ok" in result.out
    assert "tok-abcdef-123456" not in result.out


def test_json_format_lists_the_problems_of_an_invalid_file(cli, suite):
    path = suite("  - name: one\n    expect: {status: done}\n")
    result = cli("test", path, "--format", "json")
    assert result.code == 2
    doc = json.loads(result.out)
    assert doc["cases"] == []
    assert doc["problems"] == [
        f"{path}:4:22: cases[0].expect.status: 'done' (a string) is not one of succeeded, failed"
    ]
