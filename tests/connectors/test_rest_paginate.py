"""Every pagination strategy against the real server, and the guards against loops."""

from __future__ import annotations

import pytest
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
          path: {path}
          params: {params}
          paginate:
{paginate}
    output: {{ids: "${{{{ steps.all.items[].id }}}}", pages: "${{{{ steps.all.pages }}}}"}}
"""

STRATEGIES = {
    "link_header": ("/pages/link", "{per_page: 10}", "link_header: true\nitems: body"),
    "next_url": ("/pages/next", "{per_page: 10}", "next_url: body.next\nitems: body.records"),
    "cursor": (
        "/pages/cursor",
        "{per_page: 10}",
        "cursor: {next: body.next_cursor, param: cursor}\nitems: body.records",
    ),
    "offset_total": (
        "/pages/offset",
        "{}",
        "offset: {param: offset, limit_param: limit, limit: 10}\nitems: body.records\n"
        "total: body.total",
    ),
    "offset_short_page": (
        "/pages/offset",
        "{}",
        "offset: {param: offset, limit_param: limit, limit: 10}\nitems: body.records",
    ),
    "page_has_more": (
        "/pages/page",
        "{per_page: 10}",
        "page: {param: page}\nitems: body.records\nhas_more: body.has_more",
    ),
    "page_until_empty": (
        "/pages/empty-tail",
        "{}",
        "page: {param: page, start: 1}\nitems: body.records",
    ),
}


def make(url, path, params, paginate):
    block = "\n".join(" " * 12 + line for line in paginate.splitlines())
    return PIPELINE.format(url=url, path=path, params=params, paginate=block)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_record_exactly_once(strategy, rest_server, tmp_path, capsys):
    result = run_yaml(tmp_path, make(rest_server.url, *STRATEGIES[strategy]), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output["ids"] == list(range(1, 96))
    assert result.output["pages"] in (10, 11)  # 11 when an empty page ends it


def test_a_cursor_cycle_is_an_error_not_an_endless_loop(rest_server, tmp_path, capsys):
    text = make(
        rest_server.url,
        "/pages/cursor-cycle",
        "{}",
        "cursor: {next: body.next_cursor, param: cursor}\nitems: body.records",
    )
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 1
    assert (
        "error: step 'all' failed: pagination loops: page 4 asks for the same page as page 2"
        in result.err
    )
    assert len(rest_server.requests_to("/pages/cursor-cycle")) == 3


def test_a_repeated_page_is_an_error(rest_server, tmp_path, capsys):
    text = make(rest_server.url, "/pages/repeat", "{}", "next_url: body.next\nitems: body.records")
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 1
    assert (
        "error: step 'all' failed: pagination repeats itself: page 2 holds the same records "
        "as page 1" in result.err
    )


def test_max_pages_while_more_exist_is_a_warning(rest_server, tmp_path, capsys):
    text = make(
        rest_server.url,
        "/pages/next",
        "{per_page: 10}",
        "next_url: body.next\nitems: body.records\nmax_pages: 3",
    )
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"ids": list(range(1, 31)), "pages": 3}
    assert (
        "warning: all: stopped at max_pages=3 while the API has more pages; 30 records "
        "fetched, the rest were not" in result.err
    )
