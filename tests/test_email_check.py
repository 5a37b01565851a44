"""hookline check on email steps and smtp connections: every literal mistake is reported
at its line and column before anything is sent."""

from __future__ import annotations

BAD = """\
version: 1
name: mail
secrets: [SMTP_PASSWORD]
connections:
  mail:
    smtp:
      host: smtp.example.com
      tls: none
      username: bot
      password: hunter2-literal
  api:
    rest: {base_url: "https://api.example.com"}
steps:
  - id: send
    email:
      connection: mail
      from: "Bot <bot@example.com>"
      to: ["ops@example.com", "not an address"]
      cc: "x@example.com\\nBcc: thief@example.net"
      subject: "hi\\nBcc: thief@example.net"
      text: hello
      attachments:
        - name: "../etc/passwd"
          content: "${{ input }}"
  - id: wrong
    email:
      connection: api
      from: bot@example.com
      to: ops@example.com
      subject: hi
      html: "<p>hi</p>"
"""


def test_check_reports_each_literal_mistake_where_it_is(cli, write) -> None:
    path = write("mail.yaml", BAD)
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:8:12: tls: none sends the message and the password in clear: it is allowed "
        "only to 127.0.0.1 or localhost, not to 'smtp.example.com' (set allow_plaintext: "
        "true to accept it)",
        f"{path}:10:17: the password must come from a secret: write '${{{{ secrets.NAME }}}}' "
        "and list NAME under secrets:",
        f"{path}:18:31: 'not an address' is not an e-mail address (expected name@example.com)",
        f"{path}:19:11: a line break in an address is refused (it could add headers to the "
        "message)",
        f"{path}:20:16: a line break in the subject is refused (it could add headers to the "
        "message)",
        f"{path}:23:17: '../etc/passwd' is not a file name: it may not hold / or \\",
        f"{path}:27:19: connection 'api' is a rest connection; an email step needs an smtp "
        "connection",
    ]


def test_a_valid_email_step_checks_clean(cli, write) -> None:
    path = write(
        "ok.yaml",
        BAD.replace("tls: none", "tls: starttls")
        .replace("hunter2-literal", '"${{ secrets.SMTP_PASSWORD }}"')
        .replace('"not an address"', '"${{ input.to }}"')
        .replace("\\nBcc: thief@example.net", "")
        .replace("../etc/passwd", "input.json")
        .replace("connection: api", "connection: mail"),
    )
    result = cli("check", path)
    assert result.code == 0, result.out + result.err
