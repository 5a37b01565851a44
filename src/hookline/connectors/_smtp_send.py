"""Send a composed message over SMTP, with the step's retry policy.

A 4xx reply before the server accepted the message is retried under ``retry``; a 5xx is
not. Once the message's data has gone out, nothing is retried: a connection lost before
the final reply is reported as "may have been sent", because the server may have queued
it, and sending again could deliver it twice.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
import time
from typing import TYPE_CHECKING, Any

from .._errors import ConnectorError, StepFailed
from .._recorder import current_iteration
from .._retry import Backoff
from .smtp import LOCAL_HOSTS, plaintext_refused

if TYPE_CHECKING:
    from .._model import Step
    from .._runtime import Runtime
    from ._email_message import Composed
    from .smtp import SmtpConnectionSpec


class _Failure(Exception):
    def __init__(self, message: str, code: int | None = None, *, retryable: bool) -> None:
        super().__init__(message)
        self.message, self.code, self.retryable = message, code, retryable


def _reply(code: int, resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return f"{code} {' '.join(text.split())}".strip()


def _refused(what: str, code: int, resp: bytes | str) -> _Failure:
    permanent = code >= 500 or code < 400
    kind = "refused" if permanent else "refused for now (try later)"
    return _Failure(f"the SMTP server {kind} {what}: {_reply(code, resp)}", code,
                    retryable=not permanent)  # fmt: skip


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _quote(data: bytes) -> bytes:
    # What smtplib.SMTP.data does: dot-stuffing, then the lone dot that ends the data.
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _attempt(
    conn: SmtpConnectionSpec, host: str, login: tuple[str, str] | None, m: Composed, timeout: float
) -> dict[str, Any]:
    ctx = _tls_context(conn.verify)
    try:
        if conn.tls == "implicit":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, conn.port, timeout=timeout, context=ctx)
        else:
            smtp = smtplib.SMTP(host, conn.port, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        raise _Failure(f"TLS certificate of {host} not trusted: {exc.verify_message}",
                       retryable=False) from None  # fmt: skip
    except (OSError, smtplib.SMTPException) as exc:
        raise _Failure(f"could not connect to {host}:{conn.port}: {_why(exc)}",
                       retryable=True) from None  # fmt: skip
    try:
        return _session(smtp, conn, host, login, m, ctx)
    finally:
        smtp.close()


def _session(
    smtp: smtplib.SMTP,
    conn: SmtpConnectionSpec,
    host: str,
    login: tuple[str, str] | None,
    m: Composed,
    ctx: ssl.SSLContext,
) -> dict[str, Any]:
    try:
        smtp.ehlo_or_helo_if_needed()
        if conn.tls == "starttls":
            if not smtp.has_extn("starttls"):
                raise _Failure(f"{host} does not offer STARTTLS (tls: starttls)", retryable=False)
            smtp.starttls(context=ctx)
            smtp.ehlo()
        if login is not None:
            try:
                smtp.login(*login)
            except smtplib.SMTPAuthenticationError as exc:
                raise _refused("the login", exc.smtp_code, exc.smtp_error) from None
            except smtplib.SMTPNotSupportedError:
                raise _Failure(f"{host} offers no AUTH: remove username and password, or use "
                               "tls so that it offers it", retryable=False) from None  # fmt: skip
        code, resp = smtp.mail(m.sender)
        if code != 250:
            raise _refused(f"the sender {m.sender}", code, resp)
        refused: dict[str, str] = {}
        for rcpt in m.recipients:
            code, resp = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = _reply(code, resp)
                last = (code, resp)
        if len(refused) == len(m.recipients):
            raise _refused("every recipient", *last)
        code, resp = smtp.docmd("DATA")
        if code != 354:
            raise _refused("the message (DATA)", code, resp)
    except ssl.SSLCertVerificationError as exc:
        raise _Failure(f"TLS certificate of {host} not trusted: {exc.verify_message}",
                       retryable=False) from None  # fmt: skip
    except (OSError, smtplib.SMTPException) as exc:
        raise _Failure(f"the connection to {host}:{conn.port} failed before the message was "
                       f"sent: {_why(exc)}", retryable=True) from None  # fmt: skip
    try:
        smtp.send(_quote(m.message.as_bytes()))
        code, resp = smtp.getreply()
    except (OSError, smtplib.SMTPException) as exc:
        raise _Failure(
            f"the connection to {host}:{conn.port} was lost after the message was sent, "
            f"before the server answered ({_why(exc)}): it may have been sent; not retried",
            retryable=False,
        ) from None
    if code != 250:
        failure = _refused("the message", code, resp)
        raise failure
    # The message was accepted: how the session ends does not matter.
    with contextlib.suppress(OSError, smtplib.SMTPException):
        smtp.quit()
    return {
        "accepted": True,
        "message_id": str(m.message["Message-ID"]),
        "recipients": len(m.recipients) - len(refused),
        "refused": refused,
        "reply": _reply(code, resp),
    }


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | smtplib.SMTPServerDisconnected) and not str(exc):
        return type(exc).__name__
    return str(exc) or type(exc).__name__


def _fail(step: Step, runtime: Runtime, failure: _Failure, extra: str = "") -> ConnectorError:
    message = runtime.redactor.text(failure.message + extra)
    return ConnectorError(step.id, message, {"smtp_code": failure.code}, status=failure.code)


def send(
    conn: SmtpConnectionSpec, m: Composed, step: Step, context: dict[str, Any], runtime: Runtime
) -> Any:
    host = str(conn.host.render(runtime.connection_context or context))
    if conn.tls == "none" and not conn.allow_plaintext and host not in LOCAL_HOSTS:
        raise StepFailed(step.id, plaintext_refused(host))
    target = f"smtp://{host}:{conn.port}"
    if runtime.dry_run:
        runtime.dry_request(step.id, {"method": "SEND", "url": target, "message": m.view})
        return None
    if runtime.answer_point is not None:
        return _answered(runtime.answer_point, step, target, m, runtime)
    login = None
    if conn.username is not None:
        ctx = runtime.connection_context or context
        password = conn.password.render(ctx) if conn.password is not None else ""
        login = (str(conn.username.render(ctx)), "" if password is None else str(password))
    backoff = Backoff(step.retry) if step.retry is not None else None
    attempt = 1
    while True:
        remaining = runtime.remaining()
        timeout = conn.timeout if remaining is None else max(0.05, min(conn.timeout, remaining))
        started = time.monotonic()
        try:
            result = _attempt(conn, host, login, m, timeout)
        except _Failure as failure:
            _record(runtime, step.id, attempt, target, m, started, failure.message, failure.code)
            delay = None
            if failure.retryable and backoff is not None:
                delay = backoff.next_delay(remaining=runtime.remaining())
            if delay is None:
                why = f" (attempt {attempt}: {backoff.stopped_because})" if (
                    failure.retryable and backoff is not None and attempt > 1) else ""  # fmt: skip
                raise _fail(step, runtime, failure, why) from None
            runtime.log.warning(
                f"{step.id}: {runtime.redactor.text(failure.message)}; retrying in {delay:.2g}s",
                event="retry",
                step=step.id,
            )
            runtime.sleep(delay)
            attempt += 1
            continue
        _record(runtime, step.id, attempt, target, m, started, None, 250, result["reply"])
        return result


def _record(
    runtime: Runtime,
    step_id: str,
    attempt: int,
    target: str,
    m: Composed,
    started: float,
    error: str | None,
    code: int | None,
    reply: str | None = None,
) -> None:
    if runtime.log.level == "verbose":  # the message's addresses and subject, redacted
        v = m.view
        rcpt = ", ".join([*v["to"], *v["cc"], *(f"bcc {b}" for b in v["bcc"])])
        runtime.log.detail(
            f"{step_id}: attempt {attempt}: SEND {target} from {v['from']} to {rcpt}, "
            f"subject {v['subject']!r}: {reply or runtime.redactor.text(error or '')}",
            event="smtp_attempt",
            step=step_id,
        )
    runtime.record_attempt(step_id, {
        "attempt": attempt,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        "request": {"method": "SEND", "url": target, "message": m.view},
        "response": {"status": code, "reply": reply} if error is None else None,
        "error": runtime.redactor.text(error) if error else None,
    })  # fmt: skip


def _answered(point: Any, step: Step, target: str, m: Composed, runtime: Runtime) -> Any:
    """``hookline test``: the case's answer stands for the server's final reply (status
    250 accepts; another status, with `body` as its text, is that SMTP error)."""
    from ..testing._point import CaseStopped, Sent

    view = {"method": "SEND", "url": target, "path": "", "query": {}, "headers": {},
            "json": m.view, "body": None}  # fmt: skip
    loop = current_iteration()
    point.kinds.setdefault(step.id, "email")
    point.sent.append(Sent(step.id, loop, view))
    answer = point._pick(step.id, loop, view)
    if answer is None:
        raise CaseStopped(point._unanswered(point.sent[-1]))
    code = int(answer.get("status", 250))
    if code == 250:
        return {
            "accepted": True,
            "message_id": str(m.message["Message-ID"]),
            "recipients": len(m.recipients),
            "refused": {},
            "reply": "250 OK",
        }
    failure = _refused("the message", code, str(answer.get("body", "")))
    raise _fail(step, runtime, failure)
