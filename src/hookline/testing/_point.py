"""The answer point of a test run: which answer a request gets, and what was sent.

A request is matched by the step that sends it (told by ``HttpClient`` just before it
sends) and, inside a for_each, by the iteration it runs in (``create[3]``, then
``create``). Answers with ``when`` are tried first; a list answers in order, counted per
step key and iteration. A request that nothing answers stops the case at once
(``CaseStopped``, a BaseException, so that no ``on_error`` and no retry can hide it).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .._recorder import current_iteration
from .._redact import Redactor, mask_headers
from ._adapter import PLACEHOLDER_TOKEN, ScriptedAdapter, http_form

if TYPE_CHECKING:
    import requests

    from .._model import Step
    from ..connectors._http import HttpClient

MAX_REQUESTS = 10_000  # requests one case may send: a loop that never ends fails the case
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NO_JSON = object()
_SOAP_FORMS = frozenset({"result", "fault", "envelope"})


class CaseStopped(BaseException):
    """The case cannot go on: a request nothing answers, a write while recording without
    --allow-writes, too many requests. A BaseException: no on_error or retry catches it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Given:
    value: Any


@dataclass
class Sent:
    """One request as a test sees it (redacted: placeholders read ``***``)."""

    step: str
    loop: tuple[str, int] | None
    view: dict[str, Any]

    @property
    def key(self) -> str:
        return self.step if self.loop is None else f"{self.step}[{self.loop[1]}]"


def request_view(prepared: requests.PreparedRequest, redactor: Redactor) -> dict[str, Any]:
    url = str(prepared.url)
    parts = urlsplit(url)
    body = prepared.body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    parsed: Any = None
    if text:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    view = {
        "method": str(prepared.method),
        "url": url,
        "path": parts.path,
        "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
        "headers": {k: str(v) for k, v in mask_headers(dict(prepared.headers)).items()},
        "json": parsed,
        "body": text,
    }
    return redactor.value(view)  # type: ignore[no-any-return]


def _when_matches(when: dict[str, Any], view: dict[str, Any]) -> bool:
    if "method" in when and when["method"].upper() != view["method"]:
        return False
    base = view["url"].split("?")[0]
    if "url" in when and when["url"].rstrip("/") != base.rstrip("/"):
        return False
    if "path" in when and when["path"].rstrip("/") != view["path"].rstrip("/"):
        return False
    for name, value in when.get("query", {}).items():
        if view["query"].get(name) != (value if isinstance(value, str) else json.dumps(value)):
            return False
    if "json" in when and when["json"] != view["json"]:
        return False
    return not ("body" in when and when["body"] != view["body"])


class AnswerPoint:
    """Answers the requests of one case and keeps what they were."""

    def __init__(
        self,
        answers: dict[str, Any],
        redactor: Redactor,
        *,
        recording: bool = False,
        allow_writes: bool = False,
    ) -> None:
        self.answers = answers
        self.redactor = redactor
        self.recording = recording
        self.allow_writes = allow_writes
        self.sent: list[Sent] = []
        self.recorded: list[tuple[str, dict[str, Any]]] = []  # (step key, answer)
        self._counts: dict[tuple[str, tuple[str, int] | None], int] = {}
        self._used: dict[str, int] = {}  # key -> most plain answers one iteration took
        self._used_when: set[tuple[str, int]] = set()  # (key, position) of `when` answers
        self._lock = threading.Lock()
        self._local = threading.local()
        self.kinds: dict[str, str] = {}  # step id -> kind, for SOAP answers
        self.statuses: dict[str, int] = {}  # step id -> a status it accepts, for advice
        self.runtime: Any = None  # the case's Runtime, set by the runner

    # --- the hooks HttpClient and the engine call ------------------------------------

    def adapter(self, client: HttpClient) -> ScriptedAdapter:
        return ScriptedAdapter(self, client)

    def sending(self, step_id: str, *, token_request: bool = False) -> None:
        self._local.step = step_id
        self._local.token = token_request

    def step_result(self, step: Step, context: dict[str, Any]) -> Given | None:
        """The result a case gives a step outright (``result:``), else None (it runs)."""
        self.kinds.setdefault(step.id, step.kind)
        if step.id not in self.statuses:
            self.statuses[step.id] = _accepted_status(getattr(step.spec, "expect", None))
        if self.recording:
            return None
        loop = current_iteration()
        answer = self._pick(step.id, loop, None, peek=True)
        if answer is None or "result" not in answer:
            return None
        if step.kind != "soap":
            self._pick(step.id, loop, None)  # consume it
            return Given(answer["result"])
        # A SOAP step still builds and sends its envelope (captured for the assertions);
        # its reply is then replaced by the result the case gives.
        from .._errors import StepFailed
        from ..steps import STEP_KINDS

        self._local.soap_given = False
        try:
            STEP_KINDS[step.kind].run(step.spec, step, context, self.runtime)
        except StepFailed:
            # The empty reply that stood in for the result may not parse: no matter. A
            # failure before the call was answered (the WSDL) is the step's own.
            if not getattr(self._local, "soap_given", False):
                raise
        return Given(answer["result"])

    # --- answering ---------------------------------------------------------------------

    def answer(
        self,
        prepared: requests.PreparedRequest,
        adapter: ScriptedAdapter,
        options: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        step = getattr(self._local, "step", "?")
        loop = current_iteration()
        if getattr(self._local, "token", False):
            if self.recording and adapter.real is not None:
                return _forward(adapter, prepared, None, options or {})
            body = {"access_token": PLACEHOLDER_TOKEN, "token_type": "Bearer", "expires_in": 3600}
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        view = request_view(prepared, self.redactor)
        sent = Sent(step, loop, view)
        with self._lock:
            if len(self.sent) >= MAX_REQUESTS:
                raise CaseStopped(
                    f"the case sent more than {MAX_REQUESTS} requests (step '{step}'): "
                    "a loop or a pagination that never ends?"
                )
            self.sent.append(sent)
        if self.recording:
            kind = self.kinds.get(step, "")
            if view["method"] in WRITES and not self.allow_writes and not _reads(kind, view):
                raise CaseStopped(
                    f"step '{sent.key}' would send {view['method']} "
                    f"{self.redactor.text(view['url'].split('?')[0])}: recording sends "
                    "writes (POST, PUT, PATCH, DELETE) only with --allow-writes; nothing "
                    "was sent"
                )
            return _forward(adapter, prepared, (self, sent.key), options or {})
        answer = self._pick(step, loop, view)
        if answer is None:
            raise CaseStopped(self._unanswered(sent))
        if "result" in answer:
            self._local.soap_given = True
        return http_form(answer, self.kinds.get(step, ""))

    def _pick(
        self,
        step: str,
        loop: tuple[str, int] | None,
        view: dict[str, Any] | None,
        *,
        peek: bool = False,
    ) -> dict[str, Any] | None:
        keys = [f"{step}[{loop[1]}]", step] if loop is not None else [step]
        for key in keys:
            given = self.answers.get(key)
            if given is None:
                continue
            items = given if isinstance(given, list) else [given]
            if view is not None:
                for n, answer in enumerate(items):
                    if "when" in answer and _when_matches(answer["when"], view):
                        if not peek:
                            self._used_when.add((key, n))
                        return answer  # type: ignore[no-any-return]
            plain = [a for a in items if "when" not in a]
            if view is not None and view["method"] == "GET" and self.kinds.get(step) == "soap":
                # a SOAP step's GET fetches its WSDL: a SOAP answer is for the call itself
                plain = [a for a in plain if not _SOAP_FORMS & set(a)]
            if not plain:
                continue
            if not isinstance(given, list):
                if not peek:
                    self._used[key] = 1
                return plain[0]  # type: ignore[no-any-return]
            with self._lock:
                n = self._counts.get((key, loop), 0)
                if n >= len(plain):
                    if peek:
                        return None
                    raise CaseStopped(
                        f"step '{step}'{_iteration(loop)}: the answers of '{key}' ran out: "
                        f"it sent request {n + 1}, the list has {len(plain)}"
                        + (f" ({view['method']} {self._url(view)})" if view else "")
                    )
                if not peek:
                    self._counts[(key, loop)] = n + 1
                    self._used[key] = max(self._used.get(key, 0), n + 1)
            return plain[n]  # type: ignore[no-any-return]
        return None

    def unused(self, keys: list[str]) -> list[str]:
        """Notes on the answers of ``keys`` that no request took: a step never reached,
        or a pagination that stopped before its last page."""
        notes = []
        for key in keys:
            given = self.answers[key]
            items = given if isinstance(given, list) else [given]
            plain = [a for a in items if "when" not in a]
            whens = [n for n, a in enumerate(items) if "when" in a]
            took = self._used.get(key, 0)
            if not took and not any((key, n) in self._used_when for n in whens):
                notes.append(f"no request took the answers of '{key}'")
            elif isinstance(given, list) and plain and 0 < took < len(plain):
                notes.append(f"only {took} of the {len(plain)} answers of '{key}' were taken")
        return notes

    def _url(self, view: dict[str, Any]) -> str:
        return self.redactor.text(view["url"])

    def _unanswered(self, sent: Sent) -> str:
        view = sent.view
        kind = self.kinds.get(sent.step, "rest")
        if kind == "soap" and view["method"] == "GET":
            # The WSDL (or a schema it imports) fetched by URL: only a `when` answer with
            # the document as its body stands in for it (a SOAP answer is for the call).
            url = self.redactor.text(view["url"].split("?")[0])  # `when: url` has no query
            return (
                f"no answer for step '{sent.step}'{_iteration(sent.loop)}: GET "
                f"{self._url(view)} (a WSDL "
                "or a schema it imports)\nadd to the step's list of answers in the case:\n"
                f"  answers:\n    {sent.key}:\n      - when: {{method: GET, url: '{url}'}}\n"
                "        body: '<the document at that URL>'\n"
                "or keep a copy of the WSDL beside the pipeline and name it in the connection"
            )
        sample = {
            "graphql": "{data: {}}",
            "soap": "{result: {}}",
        }.get(kind, f"{{status: {self.statuses.get(sent.step, 200)}, json: {{}}}}")
        # The step's own key answers every iteration, as a first answer usually should;
        # a per-iteration key is for when the iteration matters.
        only = (
            f"\n(or '{sent.key}:' to answer iteration {sent.loop[1]} alone)"
            if sent.loop is not None
            else ""
        )
        return (
            f"no answer for step '{sent.step}'{_iteration(sent.loop)}: {view['method']} "
            f"{self._url(view)}\nadd to the case:\n  answers:\n    {sent.step}: {sample}{only}"
        )


def _reads(kind: str, view: dict[str, Any]) -> bool:
    """A GraphQL query is a POST that writes nothing: recording sends it. The document is
    parsed (graphql-core, as the server will) and the operation the server will run is
    looked at: the one ``operationName`` names, else the only one. With several and no
    name, any mutation or subscription counts; a document that does not parse, or names
    an operation it does not hold, counts as a write."""
    if kind != "graphql" or not isinstance(view.get("json"), dict):
        return False
    query = view["json"].get("query")
    name = view["json"].get("operationName")
    if not isinstance(query, str) or not (name is None or isinstance(name, str)):
        return False
    from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

    try:
        document = parse(query, no_location=True)
    except (GraphQLError, RecursionError):
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        operations = [op for op in operations if op.name is not None and op.name.value == name]
    return bool(operations) and all(op.operation == OperationType.QUERY for op in operations)


def _accepted_status(expect: Any) -> int:
    """A status a REST step's ``expect`` accepts (its first), for a suggested answer that
    passes: ``[201]`` gives 201, ``['2xx']`` (the default) 200, ``['4xx']`` 400."""
    first = expect[0] if isinstance(expect, tuple) and expect else "2xx"
    if isinstance(first, int):
        return first
    text = str(first)
    return int(text[0]) * 100 if text[:1].isdigit() else 200


def _iteration(loop: tuple[str, int] | None) -> str:
    return "" if loop is None else f" (iteration {loop[1]} of '{loop[0]}')"


def _forward(
    adapter: ScriptedAdapter,
    prepared: requests.PreparedRequest,
    record: tuple[AnswerPoint, str] | None,
    options: dict[str, Any],
) -> tuple[int, dict[str, str], bytes]:
    from ._record import forward

    return forward(adapter, prepared, record, options)
