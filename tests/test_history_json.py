"""History bodies are cut while they are encoded: storing 64 KiB of a huge result
costs about 64 KiB, not the size of the result."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from hookline._history_json import history_json

LIMIT = 64 * 1024


@pytest.mark.parametrize(
    "value",
    [
        1,
        -2.5,
        float("nan"),
        True,
        "plain",
        'ünï \u2028 "quoted" \\ \n',
        [],
        {},
        {"a": [1, None, False, {"b": "c"}], "n": 1e300},
        {1: "int key", 2.5: "float key"},
        [object],
    ],
)
def test_small_values_are_the_json_they_always_were(value):
    assert history_json(value, LIMIT) == json.dumps(value, ensure_ascii=False, default=str)


def test_none_is_no_text():
    assert history_json(None, LIMIT) is None


@pytest.mark.parametrize(
    "build",
    [
        lambda: "é" * 20_000_000,  # one huge string: one chunk of the encoder
        lambda: [{"id": i, "name": f"item {i}"} for i in range(300_000)],  # many small parts
    ],
    ids=["one-string", "many-items"],
)
def test_a_huge_value_is_cut_without_encoding_it_whole(build):
    value = build()
    tracemalloc.start()
    try:
        text = history_json(value, LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert text is not None
    cut = json.loads(text)
    assert cut["truncated"] is True and cut["limit"] == LIMIT
    assert cut["start"] == json.dumps(value, ensure_ascii=False)[:LIMIT]
    assert peak < 2 * 1024 * 1024  # whole, it would take tens of MB


def test_a_value_exactly_at_the_limit_is_kept_whole():
    value = "x" * (LIMIT - 2)  # plus two quotes
    assert history_json(value, LIMIT) == json.dumps(value)
    assert json.loads(history_json(value + "x", LIMIT) or "")["truncated"] is True


@pytest.mark.parametrize(
    "value",
    [
        {"id": 1, "name": "é\u2028\x00", "tags": ["a", None, True, 1.5, float("inf")], "n": {}},
        "\x01" * (LIMIT // 6),  # escapes: short to count, six times longer encoded
        [list(range(10))] * 10,
    ],
    ids=["mixed", "escapes", "nested"],
)
def test_small_values_take_the_fast_path_with_the_same_text(value):
    text = history_json(value, LIMIT)
    expected = json.dumps(value, ensure_ascii=False)
    assert text == (
        expected
        if len(expected) <= LIMIT
        else json.dumps({"truncated": True, "limit": LIMIT, "start": expected[:LIMIT]})
    )
