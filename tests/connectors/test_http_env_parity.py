"""The proxies and CA bundle a request gets from the environment are requests' own.

hookline works them out once per process and host (``connectors._environ``); here a
hookline session and a plain ``requests.Session`` answer the same URLs under the same
environments, one after the other in one process, so that an answer kept from an
earlier environment, or from the same host on another port, would show.
"""

from __future__ import annotations

import os

import pytest
import requests

from hookline.connectors._environ import MAX_ORIGINS
from hookline.connectors._http import _Session

# Every variable requests or urllib reads for proxies and CA bundles.
READ = ("REQUEST_METHOD", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

PROXY = "http://proxy.example:3128"
ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"HTTP_PROXY": PROXY, "HTTPS_PROXY": "http://secure-proxy.example:3129"},
    {"http_proxy": "http://lower.example:1", "HTTP_PROXY": "http://upper.example:2"},
    {"http_proxy": "", "HTTP_PROXY": "http://upper.example:2"},  # empty lower case cancels
    {"ALL_PROXY": "socks5://all.example:1080", "https_proxy": PROXY},
    {
        "HTTP_PROXY": PROXY,
        "HTTPS_PROXY": PROXY,
        "NO_PROXY": "internal.example, .corp.example,api.example:8443,10.0.0.0/8,192.168.1.7",
    },
    {"HTTP_PROXY": PROXY, "no_proxy": "*"},
    {"HTTP_PROXY": PROXY, "no_proxy": "127.0.0.1:5000,[::1]", "NO_PROXY": "api.example"},
    {"HTTP_PROXY": PROXY, "REQUEST_METHOD": "GET"},  # CGI: HTTP_PROXY could be a header
    {"HTTP_PROXY": PROXY, "http_proxy": PROXY, "REQUEST_METHOD": "POST"},
    {"REQUESTS_CA_BUNDLE": "bundle-a.pem", "CURL_CA_BUNDLE": "bundle-b.pem"},
    {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "bundle-b.pem", "HTTPS_PROXY": PROXY},
    {"HTTP_PROXY": PROXY, "NO_PROXY": "api.example:80"},
]

URLS = [
    "http://api.example/orders",
    "https://api.example:8443/orders",
    "http://api.example:8443/orders",  # the same host and port over another scheme
    "http://api.example:80/orders",
    "HTTP://API.EXAMPLE/orders",
    "http://user:secret@api.example/orders",
    "http://internal.example/",
    "http://svc.internal.example/",
    "http://corp.example/",
    "http://a.corp.example:9000/x",
    "http://notcorp.example/",
    "http://10.1.2.3/",
    "http://11.0.0.1/",
    "http://192.168.1.7:8080/",
    "http://127.0.0.1:5000/",
    "http://127.0.0.1:5001/",
    "http://[::1]:8080/",
    "https://secure.example/",
]

VERIFY: list[bool | str | None] = [True, False, None, "pipeline-ca.pem"]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in READ:
            monkeypatch.delenv(name)
    return monkeypatch


def _compare(ours: _Session, theirs: requests.Session, url: str) -> None:
    for verify in VERIFY:
        for stream in (True, None):
            given_ours: dict[str, str] = {}
            given_theirs: dict[str, str] = {}
            mine = ours.merge_environment_settings(url, given_ours, stream, verify, None)
            expected = theirs.merge_environment_settings(url, given_theirs, stream, verify, None)
            assert mine == expected, (url, verify, stream)
            assert given_ours == given_theirs, (url, verify, stream)


def test_each_environment_and_url_get_what_requests_gives(clean_environment):
    ours, theirs = _Session(), requests.Session()
    for environment in ENVIRONMENTS:
        for name, value in environment.items():
            clean_environment.setenv(name, value)
        for url in URLS:
            _compare(ours, theirs, url)
        for name in environment:
            clean_environment.delenv(name)


def test_a_variable_changed_between_two_requests_is_seen_by_the_second(clean_environment):
    ours, theirs = _Session(), requests.Session()
    url = "http://api.example/orders"
    clean_environment.setenv("HTTP_PROXY", PROXY)
    assert ours.merge_environment_settings(url, {}, True, True, None)["proxies"] == {"http": PROXY}
    clean_environment.setenv("NO_PROXY", "api.example")
    assert ours.merge_environment_settings(url, {}, True, True, None)["proxies"] == {}
    clean_environment.setenv("NO_PROXY", "other.example")
    clean_environment.setenv("CURL_CA_BUNDLE", "bundle-b.pem")
    _compare(ours, theirs, url)
    assert ours.merge_environment_settings(url, {}, True, True, None)["verify"] == "bundle-b.pem"


def test_more_hosts_than_are_remembered_still_get_requests_answer(clean_environment):
    clean_environment.setenv("HTTP_PROXY", PROXY)
    clean_environment.setenv("NO_PROXY", "host7.example,host300.example")
    ours, theirs = _Session(), requests.Session()
    for _ in range(2):
        for n in range(MAX_ORIGINS + 50):
            url = f"http://host{n}.example/"
            assert ours.merge_environment_settings(
                url, {}, True, True, None
            ) == theirs.merge_environment_settings(url, {}, True, True, None)


def test_settings_of_the_session_itself_still_apply(clean_environment):
    clean_environment.setenv("HTTP_PROXY", PROXY)
    ours, theirs = _Session(), requests.Session()
    for session in (ours, theirs):
        session.proxies = {"https": "http://session-proxy.example:1", "http": None}
        session.verify = "session-ca.pem"
    for url in URLS:
        _compare(ours, theirs, url)
