"""Runs against real local servers under proxy and CA-bundle variables: a request goes
through the proxy the environment names unless no_proxy names its host; a variable
changed between two runs of one process is seen by the second (hookline keeps what the
environment says per process); REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE are trusted as by
requests; a netrc file gives no connection credentials."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pipeline_runner import run_yaml


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers every request itself and counts them."""

    protocol_version = "HTTP/1.1"
    seen: list[str]

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        body = json.dumps({"via": "proxy", "url": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Hello(_Proxy):
    def do_GET(self) -> None:
        body = json.dumps({"secure": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def proxy() -> Iterator[ThreadingHTTPServer]:
    yield from _serve(ThreadingHTTPServer(("127.0.0.1", 0), _Proxy))


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No proxy, CA-bundle or netrc variable from the machine running the tests."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in (
            "REQUEST_METHOD", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC"
        ):  # fmt: skip
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc of the machine
    return monkeypatch


PIPELINE = """
    version: 1
    name: via-proxy
    connections:
      api:
        rest: {{base_url: "{url}"}}
    steps:
      - id: call
        rest: {{connection: api, path: /echo}}
    output: "${{{{ steps.call.body }}}}"
"""


def _proxy_url(proxy: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{proxy.server_address[1]}"


def test_a_request_goes_through_the_proxy_the_environment_names(
    proxy, rest_server, environment, tmp_path, capsys
):
    environment.setenv("HTTP_PROXY", _proxy_url(proxy))
    result = run_yaml(tmp_path, PIPELINE.format(url=rest_server.url), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"via": "proxy", "url": f"{rest_server.url}/echo"}
    assert proxy.seen == [f"{rest_server.url}/echo"]
    assert rest_server.requests == []


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost, 127.0.0.0/8", "*"])
def test_no_proxy_naming_the_host_sends_it_directly(
    no_proxy, proxy, rest_server, environment, tmp_path, capsys
):
    environment.setenv("http_proxy", _proxy_url(proxy))
    environment.setenv("no_proxy", no_proxy)
    result = run_yaml(tmp_path, PIPELINE.format(url=rest_server.url), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output["path"] == "/echo"
    assert proxy.seen == []
    assert len(rest_server.requests) == 1


def test_no_proxy_naming_an_address_with_a_port_is_ignored_as_by_requests(
    proxy, rest_server, environment, tmp_path, capsys
):
    # requests matches an IP address against plain addresses and networks only
    environment.setenv("HTTP_PROXY", _proxy_url(proxy))
    port = rest_server.url.rsplit(":", 1)[1]
    environment.setenv("NO_PROXY", f"127.0.0.1:{port}")
    result = run_yaml(tmp_path, PIPELINE.format(url=rest_server.url), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output["via"] == "proxy"
    assert rest_server.requests == []


def test_a_host_name_is_proxied_unless_no_proxy_names_its_port(
    proxy, environment, tmp_path, capsys
):
    # The proxy resolves the name, so no name lookup leaves the machine.
    environment.setenv("HTTP_PROXY", _proxy_url(proxy))
    environment.setenv("NO_PROXY", "api.hookline.test:9090")
    url = "http://api.hookline.test:8080"
    result = run_yaml(tmp_path, PIPELINE.format(url=url), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"via": "proxy", "url": f"{url}/echo"}


def test_a_variable_changed_between_two_runs_of_one_process_is_seen(
    proxy, rest_server, environment, tmp_path, capsys
):
    text = PIPELINE.format(url=rest_server.url)
    environment.setenv("HTTP_PROXY", _proxy_url(proxy))
    assert run_yaml(tmp_path, text, capsys=capsys).output["via"] == "proxy"
    environment.setenv("NO_PROXY", "127.0.0.1")
    assert run_yaml(tmp_path, text, capsys=capsys).output["path"] == "/echo"
    environment.delenv("NO_PROXY")
    assert run_yaml(tmp_path, text, capsys=capsys).output["via"] == "proxy"
    environment.delenv("HTTP_PROXY")
    assert run_yaml(tmp_path, text, capsys=capsys).output["path"] == "/echo"
    assert len(proxy.seen) == 2
    assert len(rest_server.requests) == 2


def test_a_netrc_file_gives_a_connection_no_credentials(rest_server, environment, tmp_path, capsys):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-Secret-4411\n")
    netrc.chmod(0o600)
    environment.setenv("NETRC", str(netrc))
    result = run_yaml(tmp_path, PIPELINE.format(url=rest_server.url), capsys=capsys)
    assert result.code == 0, result.err
    assert rest_server.requests[0].header("Authorization") is None


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate made for this test."""
    if shutil.which("openssl") is None and not os.environ.get("CI"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "ca.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in _serve(server):
        yield f"https://127.0.0.1:{running.server_address[1]}", cert


TLS = """
    version: 1
    name: tls-env
    connections:
      api:
        rest: {{base_url: "{url}"}}
    steps:
      - id: call
        rest: {{connection: api, path: /hello}}
    output: "${{{{ steps.call.body }}}}"
"""


def test_the_ca_bundle_variables_are_trusted_and_forgotten_when_unset(
    https_server, environment, tmp_path, capsys
):
    url, cert = https_server
    text = TLS.format(url=url)
    environment.setenv("REQUESTS_CA_BUNDLE", str(cert))
    assert run_yaml(tmp_path, text, capsys=capsys).output == {"secure": True}
    environment.setenv("REQUESTS_CA_BUNDLE", "")  # empty: the next one is read
    environment.setenv("CURL_CA_BUNDLE", str(cert))
    assert run_yaml(tmp_path, text, capsys=capsys).output == {"secure": True}
    environment.delenv("CURL_CA_BUNDLE")
    refused = run_yaml(tmp_path, text, capsys=capsys)
    assert refused.code == 1
    assert (
        f"error: step 'call' failed: GET {url}/hello: TLS verification failed (set 'verify' "
        "to a CA bundle for a private CA)" in refused.err
    )
