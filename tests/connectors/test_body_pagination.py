"""REST pagination that sends its cursor, offset or page number in the JSON body or in a
header, against the real server: every record once, the rest of the body unchanged on
every page, loop guards that see the body, and located errors at load."""

from __future__ import annotations

import json

from pipeline_runner import run_yaml

PIPELINE = """
    version: 1
    name: pages
    connections:
      api:
        rest: {{base_url: {url}}}
    steps:
      - id: all
        rest:
          connection: api
          method: {method}
          path: {path}
{request}
          paginate:
{paginate}
    output: {{ids: "${{{{ steps.all.items[].id }}}}", pages: "${{{{ steps.all.pages }}}}"}}
"""


def make(url, path, paginate, request="json: {filter: {kind: contact}}", method="POST"):
    def block(text, indent):
        return "\n".join(" " * indent + line for line in text.splitlines())

    return PIPELINE.format(
        url=url,
        method=method,
        path=path,
        request=block(request, 10),
        paginate=block(paginate, 12),
    )


def test_a_cursor_in_the_body_fetches_every_record_once(rest_server, tmp_path, capsys):
    text = make(
        rest_server.url,
        "/pages/body-cursor",
        "cursor: {next: body.page_info.end_cursor, body_path: page.after}\nitems: body.data",
        request="json: {filter: {kind: contact}, page: {size: 10}}",
    )
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"ids": list(range(1, 96)), "pages": 10}
    bodies = [r.json for r in rest_server.requests_to("/pages/body-cursor")]
    assert len(bodies) == 10
    assert bodies[0] == {"filter": {"kind": "contact"}, "page": {"size": 10}}  # no cursor yet
    for body in bodies[1:]:  # the rest of the body is sent unchanged on every page
        assert body["filter"] == {"kind": "contact"} and body["page"]["size"] == 10
        assert isinstance(body["page"]["after"], str)
    assert len({b["page"].get("after") for b in bodies}) == 10


def test_an_offset_and_page_size_in_the_body_are_numbers(rest_server, tmp_path, capsys):
    text = make(
        rest_server.url,
        "/pages/body-offset",
        "offset: {body_path: paging.offset, limit_body_path: paging.size, limit: 20}\n"
        "items: body.data\ntotal: body.total",
    )
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"ids": list(range(1, 96)), "pages": 5}
    bodies = [r.json for r in rest_server.requests_to("/pages/body-offset")]
    assert [b["paging"] for b in bodies] == [{"offset": o, "size": 20} for o in range(0, 100, 20)]


def test_a_cursor_in_a_header(rest_server, tmp_path, capsys):
    text = make(
        rest_server.url,
        "/pages/header-cursor",
        'cursor: {next: headers."x-next-cursor", header: X-Cursor}\nitems: body',
        request="params: {}",
        method="GET",
    )
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"ids": list(range(1, 96)), "pages": 10}
    sent = [r.header("X-Cursor") for r in rest_server.requests_to("/pages/header-cursor")]
    assert sent[0] is None and all(sent[1:]) and len(set(sent)) == 10


def test_a_cursor_cycle_in_the_body_is_an_error_not_an_endless_loop(rest_server, tmp_path, capsys):
    # The URL and query never change: only the body tells the pages apart, so the loop
    # guard must see the body (without it this would run to max_pages).
    text = make(
        rest_server.url,
        "/pages/body-cycle",
        "cursor: {next: body.page_info.end_cursor, body_path: page.after}\nitems: body.data",
    )
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 1
    assert (
        "error: step 'all' failed: pagination loops: page 4 asks for the same page as page 2 "
        "(cursor 'A'); stopped instead of looping forever" in result.err
    )
    assert len(rest_server.requests_to("/pages/body-cycle")) == 3


def test_a_body_cursor_cycle_caught_by_on_error(rest_server, tmp_path, capsys):
    text = make(
        rest_server.url,
        "/pages/body-cycle",
        "cursor: {next: body.page_info.end_cursor, body_path: page.after}\nitems: body.data",
    ).replace(
        "    output:",
        "        on_error: continue\n    output:",
    )
    text = text.replace(
        'output: {ids: "${{ steps.all.items[].id }}", pages: "${{ steps.all.pages }}"}',
        'output: "${{ steps.all.error.message }}"',
    )
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert json.loads(result.out).startswith("pagination loops: page 4")


def test_a_body_rendered_as_a_list_is_a_step_error(rest_server, tmp_path, capsys):
    text = make(
        rest_server.url,
        "/pages/body-cursor",
        "page: {body_path: page.number}\nitems: body.data",
        request='json: "${{ input.filters }}"',
    )
    result = run_yaml(tmp_path, text, input={"filters": [1, 2]}, capsys=capsys)
    assert result.code == 1
    assert (
        "error: step 'all' failed: paginate cannot write the body path page.number: the "
        "request body is a list, not a JSON object" in result.err
    )
    assert rest_server.requests_to("/pages/body-cursor") == []


def check(tmp_path, capsys, text):
    import textwrap

    from hookline.cli import main

    path = tmp_path / "pipeline.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    code = main(["check", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


STEP = """
    version: 1
    name: located
    connections:
      api:
        rest: {{base_url: "http://127.0.0.1:9"}}
    steps:
      - id: all
        rest:
          connection: api
          method: POST
          path: /search
{body}
          paginate:
            cursor: {{next: body.next, {where}}}
            items: body.data
"""


def test_a_body_path_needs_a_json_body_located_at_check(tmp_path, capsys):
    code, out = check(tmp_path, capsys, STEP.format(body="", where="body_path: page.after"))
    assert code == 2
    assert (
        "pipeline.yaml:15:46: body_path 'page.after' needs a JSON body: give the step 'json' "
        "(a mapping, {} for an empty one)" in out
    )


def test_a_body_path_on_a_form_body_located_at_check(tmp_path, capsys):
    body = "          form: {q: x}"
    code, out = check(tmp_path, capsys, STEP.format(body=body, where="body_path: page.after"))
    assert code == 2
    assert (
        "pipeline.yaml:15:46: body_path 'page.after' needs a JSON body, and this step sends "
        "'form': use 'json' (a mapping)" in out
    )


def test_a_body_path_through_a_string_located_at_check(tmp_path, capsys):
    body = "          json: {page: first}"
    code, out = check(tmp_path, capsys, STEP.format(body=body, where="body_path: page.after"))
    assert code == 2
    assert (
        "pipeline.yaml:15:46: body_path 'page.after' needs json.page to be a mapping, and it "
        "is a string" in out
    )


def test_two_places_for_the_cursor_located_at_check(tmp_path, capsys):
    code, out = check(
        tmp_path, capsys, STEP.format(body="          json: {}", where="param: c, header: X-C")
    )
    assert code == 2
    assert (
        "pipeline.yaml:15:45: paginate.cursor needs only one of: param, body_path, header; "
        "this one has param and header" in out
    )


def test_a_bad_header_name_and_path_located_at_check(tmp_path, capsys):
    code, out = check(tmp_path, capsys, STEP.format(body="          json: {}", where="header: X C"))
    assert code == 2
    assert "pipeline.yaml:15:43: 'X C' is not a valid header name" in out
    code, out = check(tmp_path, capsys, STEP.format(body="          json: {}", where="x: 1"))
    assert code == 2
    assert "pipeline.yaml:15:9: paginate.cursor needs one of: param, body_path, header" in out
    code, out = check(
        tmp_path, capsys, STEP.format(body="          json: {}", where="body_path: a..b")
    )
    assert code == 2
    assert (
        "pipeline.yaml:15:46: 'a..b' is not a body path: write key names joined by dots, "
        "such as page.after" in out
    )


def test_a_dry_run_shows_the_first_page_with_its_offset_in_the_body(tmp_path, capsys):
    text = make(
        "http://127.0.0.1:9",
        "/search",
        "offset: {body_path: paging.offset, limit_header: X-Limit, limit: 20}\nitems: body.data",
    )
    result = run_yaml(tmp_path, text, "--dry-run", capsys=capsys)
    assert result.code == 0, result.err
    (sent,) = json.loads(result.out)["requests"]
    assert sent["body"] == {"filter": {"kind": "contact"}, "paging": {"offset": 0}}
    assert sent["headers"]["X-Limit"] == "20"
