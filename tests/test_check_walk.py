"""What a new user's walk through `hookline check` found: each mistake is one located
message that names the fix (result keys read after `extract`, a misspelt secret, a step
key written inside the request, one message for one misspelt key)."""

from __future__ import annotations

HEAD = (
    "version: 1\nname: walk\nsecrets: [TARGET_TOKEN]\n"
    "connections:\n  api:\n    rest: {base_url: 'http://127.0.0.1:9'}\nsteps:\n"
)
FETCH = (
    "  - id: fetch\n    rest: {connection: api, path: /items}\n    extract: {items: body.items}\n"
)


def check(cli, write, body: str):
    path = write("p.yaml", HEAD + body)
    result = cli("check", "--no-cache", path)
    return result.code, result.out.splitlines(), path


def test_a_typo_after_an_extract_name_is_an_error_with_the_name(cli, write):
    code, out, path = check(
        cli,
        write,
        FETCH + "  - id: push\n"
        "    for_each:\n"
        "      items: steps.fetch.itmes\n"
        "      steps:\n"
        "        - {id: one, set: '${{ item }}'}\n",
    )
    assert code == 2
    assert out == [
        f"{path}:13:26: step 'fetch' has no 'itmes' in its result; did you mean 'items'? "
        "(its extract gives: items)"
    ]


def test_a_typo_in_a_rest_result_and_a_set_mapping_is_an_error(cli, write):
    code, out, path = check(
        cli,
        write,
        "  - id: get\n    rest: {connection: api, path: /x}\n"
        "  - id: keep\n    set: {total: 1, label: '${{ steps.get.status }}'}\n"
        "  - id: use\n    set:\n"
        "      a: '${{ steps.get.stauts }}'\n"
        "      b: '${{ length(steps.keep.totl) }}'\n",
    )
    assert code == 2
    assert out == [
        f"{path}:14:25: step 'get' has no 'stauts' in its result; did you mean 'status'? "
        "(a rest step's result has: body, headers, status)",
        f"{path}:15:33: step 'keep' has no 'totl' in its result; did you mean 'total'? "
        "(its value has: label, total)",
    ]


def test_result_keys_that_exist_or_are_not_known_pass(cli, write):
    code, out, _ = check(
        cli,
        write,
        FETCH + "  - id: get\n    rest: {connection: api, path: /x}\n    on_error: continue\n"
        "  - id: pages\n"
        "    rest:\n"
        "      connection: api\n"
        "      path: /x\n"
        "      paginate: {page: {param: p}, items: body.rows}\n"
        "  - id: computed\n    set: '${{ input }}'\n"
        "  - id: fallback\n    rest: {connection: api, path: /y}\n"
        "    on_error:\n      steps:\n        - {id: spare, set: {other: 1}}\n"
        "  - id: use\n    set:\n"
        "      a: '${{ steps.fetch.items[0].anything }}'\n"
        "      b: '${{ steps.get.error.message || steps.get.body.deep }}'\n"
        "      c: '${{ steps.pages.items[*].id || steps.pages.pages }}'\n"
        "      d: '${{ steps.computed.whatever }}'\n"
        "      e: '${{ steps.fallback.other }}'\n"
        "      f: '${{ input.rows[?id == steps.fetch]. steps.fetch.x }}'\n",
    )
    assert (code, out) == (0, [])


def test_a_misspelt_secret_gets_did_you_mean(cli, write):
    code, out, path = check(
        cli,
        write,
        "  - id: get\n    rest: {connection: api, path: /x, headers: {t: '${{ secrets.TARGET_TOKNE }}'}}\n",
    )
    assert code == 2
    assert out == [
        f"{path}:9:65: secret 'TARGET_TOKNE' is not declared; did you mean 'TARGET_TOKEN'? "
        "(or add it to 'secrets:' at the top of the file)"
    ]


def test_retry_inside_the_request_says_where_it_goes(cli, write):
    code, out, path = check(
        cli,
        write,
        "  - id: get\n    rest:\n      connection: api\n      path: /x\n"
        "      retry: {attempts: 3}\n"
        "  - id: each\n    for_each:\n      items: input\n      timeout: 5s\n"
        "      steps: [{id: one, set: 1}]\n",
    )
    assert code == 2
    assert out == [
        f"{path}:12:7: steps[0].rest: unknown key 'retry': it goes on the step (beside "
        "'rest:') or on its connection, not in the request",
        f"{path}:16:7: steps[1].for_each: unknown key 'timeout': it goes on the step "
        "(beside 'for_each:'), not in 'for_each:'",
    ]


def test_a_misspelt_connection_key_is_one_message(cli, write):
    code, out, path = check(
        cli, write, "  - id: get\n    rest:\n      conection: api\n      path: /x\n"
    )
    assert code == 2
    assert out == [
        f"{path}:10:7: steps[0].rest: unknown key 'conection'; did you mean 'connection'?"
    ]


def test_a_misspelt_required_key_is_one_message(cli, write):
    code, out, path = check(
        cli,
        write,
        "  - id: each\n    for_each:\n      itmes: input\n      steps: [{id: one, set: 1}]\n",
    )
    assert code == 2
    assert out == [f"{path}:10:7: steps[0].for_each: unknown key 'itmes'; did you mean 'items'?"]


def test_a_missing_key_without_a_misspelling_is_still_reported(cli, write):
    code, out, path = check(
        cli,
        write,
        "  - id: get\n    rest:\n      path: /x\n  - id: each\n    for_each:\n      steps: []\n",
    )
    assert code == 2
    assert out[:2] == [
        f"{path}:9:5: a rest step needs 'connection' (with 'path') or a whole 'url'",
        f"{path}:12:5: steps[1].for_each: missing required key 'items'",
    ]
