"""Two small REST APIs on 127.0.0.1 for the poll trigger's tests and its example.

``ContactsServer`` is both:

- the source: ``GET /source/contacts?page=N`` lists ``contacts`` (a dict the test
  changes between polls) ``page_size`` at a time, sorted by id, as
  ``{"data": [...], "next": "<url of the next page>" | null}``; ``fail`` set to a status
  answers every listing with it; every request must carry the bearer ``token``;
- the target: ``PUT /target/people/<id>`` stores a JSON body in ``people``,
  ``DELETE /target/people/<id>`` removes it (204; 404 if unknown). ``calls`` records every
  target request as ``(method, path)``; a PUT of an id in ``refuse`` is answered 422.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "src_tok_Q8wE3rT6yU1iO4pZ"


class ContactsServer:
    def __init__(self, page_size: int = 2) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.people: dict[str, Any] = {}
        self.calls: list[tuple[str, str]] = []
        self.listings = 0
        self.page_size = page_size
        self.fail: int | None = None
        self.refuse: set[str] = set()  # target ids whose PUT is answered 422
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def put(self, ident: str, name: str, updated_at: str) -> None:
        with self._lock:
            self.contacts[ident] = {"id": ident, "name": name, "updated_at": updated_at}

    def remove(self, ident: str) -> None:
        with self._lock:
            del self.contacts[ident]

    def start(self) -> ContactsServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                    return True
                self._send(401, {"error": "unauthorised"})
                return False

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/source/contacts" or not self._authorised():
                    if parts.path != "/source/contacts":
                        self._send(404, {"error": "no such route"})
                    return
                with server._lock:
                    server.listings += 1
                    if server.fail is not None:
                        self._send(server.fail, {"error": "listing unavailable"})
                        return
                    page = int(parse_qs(parts.query).get("page", ["1"])[0])
                    rows = [server.contacts[k] for k in sorted(server.contacts)]
                size = server.page_size
                chunk = rows[(page - 1) * size : page * size]
                more = page * size < len(rows)
                nxt = f"{server.url}/source/contacts?page={page + 1}" if more else None
                self._send(200, {"data": chunk, "next": nxt})

            def _person(self) -> str | None:
                prefix = "/target/people/"
                return self.path[len(prefix) :] if self.path.startswith(prefix) else None

            def do_PUT(self) -> None:
                ident = self._person()
                if ident is None:
                    self._send(404, {"error": "no such route"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                if ident in server.refuse:
                    self._send(422, {"error": "refused"})
                    return
                with server._lock:
                    server.calls.append(("PUT", self.path))
                    server.people[ident] = body
                self._send(200, body)

            def do_DELETE(self) -> None:
                ident = self._person()
                with server._lock:
                    server.calls.append(("DELETE", self.path))
                    found = ident is not None and server.people.pop(ident, None) is not None
                self._send(204 if found else 404, None if found else {"error": "not found"})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
