"""Origins read by both URL parsers: urllib.parse (which hookline trusts credentials by)
and urllib3's parse_url (which requests prepares with and urllib3 connects by)."""

from __future__ import annotations

import pytest
import requests

from hookline.connectors._origin import BadURL, origin_of, sent_origin
from hookline.connectors._redirects import _check_sent_origin
from hookline.connectors._transport import Failure


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://a.example#@b.example/", "http://a.example:80"),
        ("http://a.example?@b.example/", "http://a.example:80"),
        ("http://user:pw@A.example:8080/x", "http://a.example:8080"),
        ("http://a.example:80@b.example/", "http://b.example:80"),
        ("http://[::1]:9/x", "http://[::1]:9"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example:443"),
        ("http://a.example/\\b", "http://a.example:80"),
    ],
)
def test_both_parsers_agree_on_the_origin(url, origin):
    assert origin_of(url) == origin
    assert sent_origin(requests.Request("GET", url).prepare().url) == origin


@pytest.mark.parametrize("url", ["http://a.example\\@b.example/", "http://a.example\t@b.example/"])
def test_a_host_part_two_parsers_read_differently_is_refused(url):
    with pytest.raises(BadURL, match="not a valid URL"):
        origin_of(url)


def test_a_prepared_url_that_leaves_the_origin_is_refused():
    prepared = requests.Request("GET", "http://a.example/x").prepare()
    prepared.url = "http://b.example/x"  # what a parser disagreement would amount to
    with pytest.raises(Failure) as caught:
        _check_sent_origin(prepared, "http://a.example:80")
    assert caught.value.reason == (
        "not a valid URL (it reads as http://a.example:80 but would be sent to "
        "http://b.example:80); refused"
    )
