"""A small REST CRM on 127.0.0.1 for the web-form example: contacts and tasks.

``CrmServer().start()`` serves in a background thread; ``.url`` is its API base (``/api/v1``).
Every request must carry ``Authorization: Bearer <token>`` (401 otherwise). Routes:

- ``GET /contacts?email=...&limit=N``: ``{"results": [contact, ...]}`` (e-mail compared
  as written: the pipeline is expected to normalise it);
- ``POST /contacts``: 201 with the new contact (``id`` ``ct_1001``, ``ct_1002``, ...);
- ``PATCH /contacts/<id>``: 200 with the contact, its fields replaced; 404 if unknown;
- ``POST /tasks``: 201 with the new task (``id`` ``tk_1``, ...); 422 without a known
  ``contact_id``.

A POST with an ``Idempotency-Key`` it has seen before is answered with the first answer
and changes nothing, as Stripe-style APIs do. ``requests`` records every request as
``(method, path with its query, JSON body)``.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "crm_tok_V7pQ2mL9xR4wK8sT"
BASE = "/api/v1"


class CrmServer:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.contacts: dict[str, dict[str, Any]] = {}
        self.tasks: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, Any]] = []
        self._seen_keys: dict[str, tuple[int, Any]] = {}
        self._contact_ids = itertools.count(1001)
        self._task_ids = itertools.count(1)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                split = urlsplit(self.path)
                with server._lock:
                    server.requests.append((self.command, self.path, body))
                    if self.headers.get("Authorization") != f"Bearer {server.token}":
                        status, answer = 401, {"error": "unauthorized"}
                    else:
                        status, answer = server._route(
                            self.command, split.path.removeprefix(BASE), split.query, body,
                            self.headers.get("Idempotency-Key"),
                        )  # fmt: skip
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}{BASE}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def _route(
        self, method: str, path: str, query: str, body: Any, key: str | None
    ) -> tuple[int, Any]:
        if method == "POST" and key is not None and key in self._seen_keys:
            return self._seen_keys[key]
        if (method, path) == ("GET", "/contacts"):
            params = parse_qs(query)
            email = params.get("email", [""])[0]
            limit = int(params.get("limit", ["100"])[0])
            found = [c for c in self.contacts.values() if c["email"] == email]
            return 200, {"results": found[:limit]}
        if (method, path) == ("POST", "/contacts"):
            contact = {**body, "id": f"ct_{next(self._contact_ids)}"}
            self.contacts[contact["id"]] = contact
            answer: tuple[int, Any] = (201, contact)
        elif method == "PATCH" and path.startswith("/contacts/"):
            contact_id = path.removeprefix("/contacts/")
            if contact_id not in self.contacts:
                return 404, {"error": f"no contact {contact_id}"}
            self.contacts[contact_id].update(body)
            return 200, self.contacts[contact_id]
        elif (method, path) == ("POST", "/tasks"):
            if body.get("contact_id") not in self.contacts:
                return 422, {"error": "contact_id names no contact"}
            task = {**body, "id": f"tk_{next(self._task_ids)}"}
            self.tasks.append(task)
            answer = (201, task)
        else:
            return 404, {"error": "not found"}
        if key is not None:
            self._seen_keys[key] = answer
        return answer

    def add_contact(self, **fields: Any) -> str:
        """Put a contact in the CRM (as if made earlier); its id."""
        with self._lock:
            contact = {**fields, "id": f"ct_{next(self._contact_ids)}"}
            self.contacts[contact["id"]] = contact
            return str(contact["id"])

    def contacts_with(self, email: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self.contacts.values() if c["email"] == email]

    def tasks_of(self, contact_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t) for t in self.tasks if t["contact_id"] == contact_id]

    def start(self) -> CrmServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> CrmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
