"""TLS verification: on by default; a CA bundle named in the pipeline (relative to it)."""

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


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        body = json.dumps({"secure": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate made for this test."""
    if shutil.which("openssl") is None and not os.environ.get("CI"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "certs" / "ca.pem", tmp_path / "key.pem"
    cert.parent.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


PIPELINE = """
    version: 1
    name: tls
    connections:
      api:
        rest: {{base_url: "{url}"{verify}}}
    steps:
      - id: call
        rest: {{connection: api, path: /hello}}
    output: "${{{{ steps.call.body }}}}"
"""


def test_an_unknown_certificate_is_refused_by_default(https_server, tmp_path, capsys):
    url, _ = https_server
    result = run_yaml(tmp_path, PIPELINE.format(url=url, verify=""), capsys=capsys)
    assert result.code == 1
    assert (
        f"error: step 'call' failed: GET {url}/hello: TLS verification failed (set 'verify' "
        "to a CA bundle for a private CA)" in result.err
    )


def test_a_ca_bundle_relative_to_the_pipeline_file_is_trusted(https_server, tmp_path, capsys):
    url, _ = https_server
    text = PIPELINE.format(url=url, verify=", verify: certs/ca.pem")
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"secure": True}
