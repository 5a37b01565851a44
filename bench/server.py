"""The benchmarks' HTTP server: standard library, keep-alive, answers in one write.

``python bench/server.py`` prints its port once it listens and stops when its standard
input closes. ``GET|POST /item/<n>`` answers ``{"id": n, "ok": true}``.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        item = self.path.rsplit("/", 1)[-1]
        body = json.dumps({"id": int(item) if item.isdigit() else item, "ok": True}).encode()
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.wfile.write(head + body)  # one write: no Nagle wait between head and body

    do_GET = _answer
    do_POST = _answer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main() -> None:
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
