"""Mistakes that used to pass `hookline check` and then did the wrong thing: each is now
an error or a warning at its line and column, with the fix."""

from __future__ import annotations

import json

HEAD = "version: 1\nname: mistakes\nsteps:\n"
REST = "http://127.0.0.1:9/contacts"


def check(cli, write, body: str, *flags: str):
    path = write("p.yaml", HEAD + body)
    return cli("check", "--no-cache", *flags, path), path


def test_braces_without_dollar_are_an_error_with_the_fix(cli, write):
    result, path = check(
        cli,
        write,
        "  - id: send\n"
        f"    rest: {{url: {REST}, method: POST, json: {{to: '{{{{ input.email }}}}'}}}}\n",
    )
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:5:71: '{{{{ input.email }}}}' is sent as this very text, not the value: "
        "hookline expressions are written '${{ input.email }}' (for a literal '{{', write "
        "${{ '{{' }})"
    ]


def test_braces_over_names_hookline_does_not_have_pass(cli, write):
    # A mail API's own template ({{firstName}}), and the escape the error names.
    result, _ = check(
        cli,
        write,
        "  - id: send\n"
        "    set:\n"
        "      template: 'Hello {{firstName}}, your order {{ order.id }}'\n"
        "      literal: \"${{ '{{' }} input.email }}\"\n"
        "      escaped: '$${{ input.email }}'\n",
    )
    assert (result.code, result.out) == (0, "")


def test_braces_over_a_loop_name_are_an_error(cli, write):
    result, path = check(
        cli,
        write,
        "  - id: each\n"
        "    for_each:\n"
        "      items: input.rows\n"
        "      as: row\n"
        "      steps:\n"
        "        - id: one\n"
        "          set: 'row {{ row.id }}'\n",
    )
    assert result.code == 2
    assert result.out.startswith(f"{path}:10:21: '{{{{ row.id }}}}' is sent as this very text")


def test_status_compared_with_text_is_a_warning_and_check_passes(cli, write):
    body = (
        "  - id: create\n"
        f"    rest: {{url: {REST}, method: GET}}\n"
        "  - id: created\n"
        "    if: \"steps.create.status == '201'\"\n"
        "    set: 1\n"
        "  - id: paged\n"
        f"    rest: {{url: {REST}, method: GET}}\n"
        "    extract:\n"
        "      ok: \"'200' != status\"\n"
    )
    result, path = check(cli, write, body)
    assert result.code == 0
    assert result.out.splitlines() == [
        f"{path}:7:10: warning: steps.create.status is a number and '201' is text: JMESPath "
        "does not convert types, so this comparison is never true; write a number in "
        "backticks, `201`",
        f"{path}:12:21: warning: status is a number and '200' is text: JMESPath does not "
        "convert types, so this comparison is always true; write a number in backticks, `200`",
    ]
    assert result.err == "1 file checked: all valid, 2 warnings\n"
    strict = cli("check", "--no-cache", "--strict", path)
    assert strict.code == 2
    assert strict.out == result.out


def test_status_of_a_step_with_extract_or_of_a_set_step_is_not_known(cli, write):
    body = (
        "  - id: made\n"
        "    set: {status: '201'}\n"
        "  - id: got\n"
        f"    rest: {{url: {REST}}}\n"
        "    extract: {status: body.state}\n"
        "  - id: done\n"
        "    if: \"steps.made.status == '201' && steps.got.status == 'open'\"\n"
        '    set: "${{ steps.made.status == `201` }}"\n'
    )
    result, _ = check(cli, write, body)
    assert (result.code, result.out) == (0, "")


def test_retry_on_a_post_without_idempotent_is_a_warning(cli, write):
    body = (
        "  - id: create\n"
        f"    rest: {{url: {REST}, method: POST, json: {{a: 1}}}}\n"
        "    retry: {attempts: 3}\n"
        "  - id: update\n"
        f"    rest: {{url: {REST}, method: PATCH, json: {{a: 1}}}}\n"
        "    retry: {attempts: 3, idempotent: true}\n"
        "  - id: read\n"
        f"    rest: {{url: {REST}}}\n"
        "    retry: {attempts: 3}\n"
    )
    result, path = check(cli, write, body, "--format", "json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["valid"] is True
    assert report["files"][0]["problems"] == [
        {
            "file": path,
            "line": 6,
            "col": 12,
            "message": "this retry repeats nothing after an error answer or a timeout: a POST "
            "is sent again only when it never reached the server or was refused with 429; "
            "add 'idempotent: true' under retry if sending it twice is safe",
            "severity": "warning",
        }
    ]


def test_a_warned_file_is_not_remembered_as_passed(cli, write):
    # The check cache skips files that passed: one with warnings must show them each time.
    body = f"  - id: create\n    rest: {{url: {REST}, method: POST}}\n    retry: {{attempts: 2}}\n"
    path = write("p.yaml", HEAD + body)
    first = cli("check", path)
    second = cli("check", path)
    assert first.out == second.out
    assert "warning: this retry repeats nothing" in second.out


def test_braces_around_a_bare_expression_get_the_fix(cli, write):
    result, path = check(
        cli,
        write,
        "  - id: vip\n"
        '    if: "{{ input.vip }}"\n'
        "    set: 1\n"
        "  - id: each\n"
        "    for_each:\n"
        '      items: "{{input.rows}}"\n'
        "      steps:\n"
        "        - id: one\n"
        "          set: 1\n",
    )
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:5:9: '{{{{ input.vip }}}}' is not an expression: this key takes a bare "
        "expression, written without braces, input.vip (or '${{ input.vip }}')",
        f"{path}:9:14: '{{{{ input.rows }}}}' is not an expression: this key takes a bare "
        "expression, written without braces, input.rows (or '${{ input.rows }}')",
    ]
