"""A server URL's passwords, wherever the URL holds one: hidden by ``masked`` (every line
that names a server), learnt by a log redactor (``passwords``), and hidden in a usage
error that quotes what was typed."""

from __future__ import annotations

import pytest

from hookline._redact import Redactor
from hookline._urlsecrets import mask_in_text, masked, passwords


@pytest.mark.parametrize(
    ("url", "shown", "secrets"),
    [
        # the userinfo
        (
            "postgresql://app:s3cret-pw@db:5432/hooks",
            "postgresql://app:***@db:5432/hooks",
            ["s3cret-pw"],
        ),
        ("redis://:s3cret-pw@cache:6379/0", "redis://***@cache:6379/0", ["s3cret-pw"]),
        ("amqp://guest:s3cret-pw@mq//", "amqp://guest:***@mq//", ["s3cret-pw"]),
        # a lone user is hidden (a Redis client may take it for the password); only a
        # Redis URL's is learnt as a password (a database's is a user name)
        ("redis://s3cret-pw@cache/0", "redis://***@cache/0", ["s3cret-pw"]),
        ("postgresql://app@db/hooks", "postgresql://***@db/hooks", []),
        # the query: libpq and redis-py read a password there too, in any case
        (
            "postgresql://db:1/x?password=s3cret-pw",
            "postgresql://db:1/x?password=***",
            ["s3cret-pw"],
        ),
        (
            "postgresql://app@db/x?sslmode=require&PassWord=a%26b-pw&sslpassword=key-pw",
            "postgresql://***@db/x?sslmode=require&PassWord=***&sslpassword=***",
            ["a%26b-pw", "a&b-pw", "key-pw"],
        ),
        ("redis://cache/1?passwd=s3cret-pw", "redis://cache/1?passwd=***", ["s3cret-pw"]),
        # unescaped / ? # in a password: hidden whole, not cut where urlsplit would cut
        ("redis://:pa/ss-pw@cache/0", "redis://***@cache/0", ["pa/ss-pw"]),
        ("redis://:pa?ss-pw@cache/0", "redis://***@cache/0", ["pa?ss-pw"]),
        ("postgresql://app:pa#ss-pw@db/x", "postgresql://app:***@db/x", ["pa#ss-pw"]),
        # libpq's keyword form, bare or quoted
        ("host=db port=1 password=s3cret-pw", "host=db port=1 password=***", ["s3cret-pw"]),
        (
            "host=db password = 'two words\\' pw' dbname=x",
            "host=db password = *** dbname=x",
            ["two words' pw"],
        ),
        # nothing to hide
        ("redis://cache:6379/0", "redis://cache:6379/0", []),
    ],
)
def test_every_form_of_password_is_hidden_and_learnt(
    url: str, shown: str, secrets: list[str]
) -> None:
    assert masked(url) == shown
    assert passwords(url) == secrets


def test_a_redactor_that_learnt_a_urls_passwords_hides_them_in_any_message() -> None:
    url = "postgresql://db:1/x?password=pgq-SECRET-11"
    redactor = Redactor()
    for secret in passwords(url):
        redactor.add(secret)
    said = "connection failed: password authentication failed (password pgq-SECRET-11)"
    assert redactor.text(said) == "connection failed: password authentication failed (password ***)"


def test_a_usage_error_quoting_a_url_or_a_keyword_string_hides_the_password() -> None:
    message = (
        "argument show|set|clear: invalid choice: 'postgresql://app:pgpw-51z@db/x"
        "?sslpassword=k3y-pw&sslmode=require' (choose from 'show', 'set', 'clear'); "
        "unrecognized arguments: host=db password=dsn-pw-9"
    )
    assert mask_in_text(message) == (
        "argument show|set|clear: invalid choice: 'postgresql://app:***@db/x"
        "?sslpassword=***&sslmode=require' (choose from 'show', 'set', 'clear'); "
        "unrecognized arguments: host=db password=***"
    )


def test_argparse_never_echoes_a_password(cli) -> None:
    wrong = cli("state", "postgresql://app:pgpw-51z@127.0.0.1:1/x", "show", "orders")
    assert wrong.code == 2
    assert wrong.err.splitlines()[-1] == (
        "hookline state: error: argument show|set|clear: invalid choice: "
        "'postgresql://app:***@127.0.0.1:1/x' (choose from 'show', 'set', 'clear')"
    )
    typo = cli("runs", "--databse=postgresql://127.0.0.1:1/x?password=pgq-SECRET-11")
    assert typo.code == 2
    assert typo.err.splitlines()[-1] == (
        "hookline: error: unrecognized arguments: --databse=postgresql://127.0.0.1:1/x?password=***"
    )
    assert "pgpw-51z" not in wrong.err + wrong.out and "SECRET" not in typo.err + typo.out
