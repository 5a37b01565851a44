"""email steps against real SMTP servers on 127.0.0.1 (aiosmtpd with TLS and AUTH, and a
raw socket that drops the connection after the message)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.pipeline_runner import run_yaml
from email_support import PASSWORD, dropping_server, make_cert, smtp_server
from history_support import attempt_rows


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    yield


def pipeline(port: int, cert: Path | None, *, tls: str = "starttls", step: str = "") -> str:
    verify = f"verify: {json.dumps(str(cert))}" if cert else ""
    return f"""
        version: 1
        name: mail
        secrets: [SMTP_PASSWORD]
        connections:
          mail:
            smtp:
              host: 127.0.0.1
              port: {port}
              tls: {tls}
              username: bot
              password: "${{{{ secrets.SMTP_PASSWORD }}}}"
              timeout: 5
              {verify}
        steps:
          - id: send
            {step or "retry: {attempts: 3, initial_delay: 0.01}"}
            email:
              connection: mail
              from: "Hookline <alerts@example.com>"
              to: ["ops@example.com", "${{{{ input.to }}}}"]
              bcc: audit@example.com
              subject: "Order ${{{{ input.id }}}} failed"
              text: "Order ${{{{ input.id }}}}: ${{{{ input.why }}}}"
              html: "<p>Order ${{{{ input.id }}}}</p>"
              attachments:
                - name: "order-${{{{ input.id }}}}.json"
                  content: "${{{{ input }}}}"
        output: "${{{{ steps.send }}}}"
        """


INPUT = {"id": 7, "to": "Lead <lead@example.com>", "why": "no stock"}


def test_starttls_auth_sends_the_message(tmp_path, capsys, cert) -> None:
    with smtp_server(*cert) as (port, handler):
        out = run_yaml(tmp_path, pipeline(port, cert[0]), input=INPUT, capsys=capsys)
    assert out.code == 0, out.err
    assert out.output["accepted"] is True
    assert out.output["recipients"] == 3
    assert out.output["reply"] == "250 2.0.0 queued as 42"
    [(sender, rcpts, msg)] = handler.received
    assert sender == "alerts@example.com"
    assert rcpts == ["ops@example.com", "lead@example.com", "audit@example.com"]
    assert msg["To"] == "ops@example.com, Lead <lead@example.com>"
    assert msg["Bcc"] is None  # a hidden copy is in the envelope only
    assert msg["Subject"] == "Order 7 failed"
    parts = {p.get_filename() or p.get_content_type(): p for p in msg.walk()}
    assert json.loads(parts["order-7.json"].get_payload(decode=True)) == INPUT
    assert parts["text/plain"].get_payload(decode=True).decode().strip() == "Order 7: no stock"
    # The history keeps the message (headers, bodies) and never the password.
    [attempt] = attempt_rows(out.db)
    assert attempt["request"]["message"]["subject"] == "Order 7 failed"
    assert PASSWORD not in json.dumps(attempt_rows(out.db)) + out.err + out.out


def test_implicit_tls(tmp_path, capsys, cert) -> None:
    with smtp_server(*cert, implicit=True) as (port, handler):
        out = run_yaml(tmp_path, pipeline(port, cert[0], tls="implicit"), input=INPUT,
                       capsys=capsys)  # fmt: skip
    assert out.code == 0, out.err
    assert len(handler.received) == 1


def test_an_untrusted_certificate_is_refused(tmp_path, capsys, cert) -> None:
    with smtp_server(*cert) as (port, handler):
        out = run_yaml(tmp_path, pipeline(port, None), input=INPUT, capsys=capsys)
    assert out.code == 1
    assert "step 'send' failed: TLS certificate of 127.0.0.1 not trusted: " in out.err
    assert handler.received == []


def test_a_wrong_password_is_not_retried_and_not_shown(tmp_path, capsys, cert, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-Password-1")
    with smtp_server(*cert) as (port, handler):
        out = run_yaml(tmp_path, pipeline(port, cert[0]), input=INPUT, capsys=capsys)
    assert handler.data_calls == 0
    assert out.code == 1
    assert "step 'send' failed: the SMTP server refused the login: 535 " in out.err
    assert "wrong-Password-1" not in out.err + json.dumps(attempt_rows(out.db))
    assert len(attempt_rows(out.db)) == 1


def test_a_4xx_is_retried_then_sent(tmp_path, capsys, cert) -> None:
    with smtp_server(*cert) as (port, handler):
        handler.replies = ["451 4.3.0 try again later"]
        out = run_yaml(tmp_path, pipeline(port, cert[0]), input=INPUT, capsys=capsys)
    assert out.code == 0, out.err
    assert handler.data_calls == 2 and len(handler.received) == 1
    assert [a["error"] for a in attempt_rows(out.db)] == [
        "the SMTP server refused for now (try later) the message: 451 4.3.0 try again later",
        None,
    ]


def test_a_4xx_without_retry_fails(tmp_path, capsys, cert) -> None:
    with smtp_server(*cert) as (port, handler):
        handler.replies = ["451 4.3.0 try again later"]
        out = run_yaml(tmp_path, pipeline(port, cert[0], step="name: once"), input=INPUT,
                       capsys=capsys)  # fmt: skip
    assert out.code == 1
    assert ("step 'send' failed: the SMTP server refused for now (try later) the message: "
            "451 4.3.0 try again later") in out.err  # fmt: skip
    assert handler.data_calls == 1


def test_a_5xx_is_not_retried(tmp_path, capsys, cert) -> None:
    with smtp_server(*cert) as (port, handler):
        handler.replies = ["554 5.7.1 rejected as spam", "250 would be a second copy"]
        out = run_yaml(tmp_path, pipeline(port, cert[0]), input=INPUT, capsys=capsys)
    assert out.code == 1
    assert (
        "step 'send' failed: the SMTP server refused the message: 554 5.7.1 rejected as spam"
        in out.err
    )
    assert handler.data_calls == 1


def test_a_connection_lost_after_the_data_may_have_sent_it(tmp_path, capsys) -> None:
    with dropping_server() as (port, got):
        out = run_yaml(tmp_path, pipeline(port, None, tls="none").replace(
            "username: bot", "").replace('password: "${{ secrets.SMTP_PASSWORD }}"', ""),
            input=INPUT, capsys=capsys)  # fmt: skip
    assert out.code == 1
    assert f"the connection to 127.0.0.1:{port} was lost after the message was sent" in out.err
    assert "it may have been sent; not retried" in out.err
    assert len(got) == 1  # retry: attempts 3, yet sent once


def test_a_newline_in_a_templated_subject_is_refused(tmp_path, capsys, cert) -> None:
    bad = {**INPUT, "id": "7\r\nBcc: thief@example.net"}
    with smtp_server(*cert) as (port, handler):
        out = run_yaml(tmp_path, pipeline(port, cert[0]), input=bad, capsys=capsys)
    assert out.code == 1
    assert ("step 'send' failed: subject: a line break in the subject is refused (it could "
            "add headers to the message)") in out.err  # fmt: skip
    assert handler.data_calls == 0


def test_a_templated_address_is_checked(tmp_path, capsys, cert) -> None:
    bad = {**INPUT, "to": "x@example.com\nBcc: thief@example.net"}
    with smtp_server(*cert) as (port, handler):
        out = run_yaml(tmp_path, pipeline(port, cert[0]), input=bad, capsys=capsys)
    assert out.code == 1
    assert "step 'send' failed: to: a line break in an address is refused" in out.err
    assert handler.data_calls == 0


def test_dry_run_sends_nothing_and_shows_the_message(tmp_path, capsys, cert) -> None:
    with smtp_server(*cert) as (port, handler):
        out = run_yaml(tmp_path, pipeline(port, cert[0]), "--dry-run", input=INPUT,
                       capsys=capsys)  # fmt: skip
    assert out.code == 0, out.err
    assert handler.data_calls == 0 and handler.received == []
    assert f"send: would send SEND smtp://127.0.0.1:{port}" in out.err
    assert "Order 7 failed" in out.out
    assert PASSWORD not in out.out + out.err


def test_attachments_past_the_size_limit_fail_the_step(tmp_path, capsys) -> None:
    text = pipeline(2525, None).replace(
        '''                - name: "order-${{ input.id }}.json"
                  content: "${{ input }}"''',
        """                - {name: a.txt, content: "${{ input.big }}"}
                - {name: b.txt, content: "${{ input.big }}"}""",
    )
    big = {**INPUT, "big": "x" * (6 * 1024 * 1024)}
    out = run_yaml(tmp_path, text, "--dry-run", input=big, capsys=capsys)
    assert out.code == 1
    assert ("step 'send' failed: attachments: 'b.txt' brings them past 10485760 bytes in "
            "all; attach less (a summary, or the first records)") in out.err  # fmt: skip


def test_plaintext_to_a_templated_remote_host_is_refused(tmp_path, capsys) -> None:
    text = pipeline(25, None, tls="none").replace("host: 127.0.0.1", 'host: "${{ input.host }}"')
    out = run_yaml(tmp_path, text, "--dry-run", input={**INPUT, "host": "mail.example.net"},
                   capsys=capsys)  # fmt: skip
    assert out.code == 1
    assert ("step 'send' failed: tls: none sends the message and the password in clear: it is "
            "allowed only to 127.0.0.1 or localhost, not to 'mail.example.net'") in out.err  # fmt: skip


def test_verbose_logs_each_attempt_without_the_password(tmp_path, capsys, cert) -> None:
    with smtp_server(*cert) as (port, handler):
        handler.replies = ["451 4.3.0 try again later"]
        out = run_yaml(tmp_path, pipeline(port, cert[0]), "--verbose", input=INPUT,
                       capsys=capsys)  # fmt: skip
    assert out.code == 0, out.err
    target = f"SEND smtp://127.0.0.1:{port} from Hookline <alerts@example.com> to ops@example.com, "
    assert (f"send: attempt 1: {target}Lead <lead@example.com>, bcc audit@example.com, subject "
            "'Order 7 failed': the SMTP server refused for now (try later) the message: 451 "
            "4.3.0 try again later") in out.err  # fmt: skip
    assert "send: attempt 2: " + target in out.err
    assert PASSWORD not in out.err
