"""Secrets come from NAME or NAME_FILE; missing ones stop the run before any step."""

from __future__ import annotations

PIPELINE = """\
version: 1
name: uses-secrets
secrets:
  - API_TOKEN
  - SIGNING_KEY
steps:
  - id: header
    set: "Bearer ${{ secrets.API_TOKEN }} / ${{ secrets.SIGNING_KEY }}"
output: "${{ steps.header }}"
"""


def test_missing_secrets_are_all_reported_at_their_lines_with_exit_2(cli, write, monkeypatch):
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("SIGNING_KEY", raising=False)
    path = write("p.yaml", PIPELINE)
    result = cli("run", path)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"{path}:4:5: secret 'API_TOKEN' is not set: set the environment variable API_TOKEN, "
        "or API_TOKEN_FILE to the path of a file that holds it",
        f"{path}:5:5: secret 'SIGNING_KEY' is not set: set the environment variable "
        "SIGNING_KEY, or SIGNING_KEY_FILE to the path of a file that holds it",
    ]
    assert "header" not in result.err  # no step ran


def test_secret_from_a_file_and_redacted_in_the_output(cli, write, tmp_path, monkeypatch):
    token = "tok_live_4f9a8b7c6d5e"
    key_file = tmp_path / "signing_key"
    key_file.write_text("k3y-from-a-file-123\n", encoding="utf-8")
    monkeypatch.setenv("API_TOKEN", token)
    monkeypatch.delenv("SIGNING_KEY", raising=False)
    monkeypatch.setenv("SIGNING_KEY_FILE", str(key_file))
    result = cli("run", write("p.yaml", PIPELINE))
    assert result.code == 0, result.err
    assert result.out.strip() == '"Bearer *** / ***"'
    assert token not in result.out + result.err
    assert "k3y-from-a-file-123" not in result.out + result.err
