"""The benchmarks' HTTP server: standard library, keep-alive, Nagle off, no logging.

``python bench/server.py`` listens on 127.0.0.1 (a free port), prints the port on stdout
once it accepts connections, and exits when its standard input closes.
``GET`` or ``POST /item/<n>`` answers ``{"id": n, "ok": true}``; ``/big/<n>`` answers
``{"id": n, "ok": true, "pad": "..."}``, 1 KiB in all; anything else is a 404.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connections

    def setup(self) -> None:
        super().setup()
        # Without this, keep-alive answers wait for the client's delayed ACK (~40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        prefix, _, item = self.path.partition("?")[0].rpartition("/")
        if prefix == "/item" and item.isdigit():
            status, body = "200 OK", json.dumps({"id": int(item), "ok": True}).encode()
        elif prefix == "/big" and item.isdigit():
            small = json.dumps({"id": int(item), "ok": True, "pad": ""})
            pad = "x" * (1024 - len(small))  # the body is exactly 1 KiB
            status, body = "200 OK", json.dumps({"id": int(item), "ok": True, "pad": pad}).encode()
        else:
            status, body = "404 Not Found", b'{"error": "not found"}'
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.wfile.write(head + body)  # one write, one packet

    do_GET = _answer
    do_POST = _answer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main() -> None:
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
