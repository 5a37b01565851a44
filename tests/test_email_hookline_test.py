"""hookline test answers an email step (accepted, or an SMTP error code) or replaces its
result, and shows the message it would have sent; nothing is sent."""

from __future__ import annotations

PIPELINE = """\
version: 1
name: notify
secrets: [SMTP_PASSWORD]
connections:
  mail:
    smtp:
      host: smtp.invalid
      username: bot
      password: "${{ secrets.SMTP_PASSWORD }}"
steps:
  - id: mail
    on_error: continue
    email:
      connection: mail
      from: bot@example.com
      to: "${{ input.to }}"
      subject: "Hello ${{ input.name }}"
      text: hi
output: "${{ steps.mail.error && steps.mail || {accepted: steps.mail.accepted, reply: steps.mail.reply} }}"
"""

CASES = """\
version: 1
defaults:
  input: {to: ada@example.com, name: Ada}
cases:
  - name: accepted
    answers:
      mail: {status: 250}
    expect:
      output: {accepted: true, reply: 250 OK}
      requests:
        mail:
          - where: {json.subject: Hello Ada, json.to: [ada@example.com]}
  - name: a 451 is the step's error
    answers:
      mail: {status: 451, body: "4.7.1 greylisted"}
    expect:
      output:
        error:
          step: mail
          message: "the SMTP server refused for now (try later) the message: 451 4.7.1 greylisted"
          status: 451
          details: {smtp_code: 451}
  - name: a given result
    answers:
      mail: {result: {accepted: true}}
    expect:
      output: {accepted: true, reply: null}
"""


def test_hookline_test_answers_an_email_step(cli, write) -> None:
    write("notify.yaml", PIPELINE)
    path = write("notify.test.yaml", CASES)
    result = cli("test", path)
    assert result.code == 0, result.out + result.err
    assert result.out.count("PASS") == 3


def test_an_unanswered_email_step_stops_the_case(cli, write) -> None:
    write("notify.yaml", PIPELINE)
    path = write("notify.test.yaml", CASES.replace("      mail: {status: 250}\n", "      {}\n"))
    result = cli("test", path)
    assert result.code == 1
    assert "FAIL" in result.out and "step 'mail'" in result.out
