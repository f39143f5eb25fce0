"""Unsubscribe tokens: opaque, signed, and a secret is required to make them."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.tokens import make_token, open_token
from tests.helpers import run

SECRET = b"k" * 32


def test_token_round_trip_hides_the_address() -> None:
    token = make_token(SECRET, "Zoe.Lee+news@Example.org")
    assert token == make_token(SECRET, "zoe.lee+news@example.org")  # one per subscriber
    assert token.isascii() and all(c.isalnum() or c in "-_" for c in token)
    assert "zoe" not in token.lower() and "example" not in token.lower()
    assert open_token(SECRET, token) == "zoe.lee+news@example.org"
    assert make_token(SECRET, "ann@example.com") != token


@pytest.mark.parametrize("forged", [
    "", "abc", "not base64 !", "A" * 60,
    make_token(b"another secret of at least 32 bytes!", "zoe@example.org"),
])
def test_forged_or_damaged_tokens_do_not_open(forged: str) -> None:
    assert open_token(SECRET, forged) is None


def test_a_token_has_one_spelling() -> None:
    token = make_token(SECRET, "zoe@example.org")
    standard = token.replace("-", "+").replace("_", "/")
    for other in (token + "=", token + "===", token + " ", standard if standard != token
                  else token + "."):
        assert open_token(SECRET, other) is None, other


def test_a_flipped_character_does_not_open() -> None:
    token = make_token(SECRET, "zoe@example.org")
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert open_token(SECRET, flipped) is None


@pytest.mark.parametrize("args", [["build"], ["build", "--preview"], ["send"]])
@pytest.mark.parametrize("secret", [None, "short-secret", " " * 40, "ab" * 20])
def test_every_command_that_builds_needs_a_long_secret(
        args: list[str], secret: str | None, write_config, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config([{"url": "feed.xml", "name": "Local"}])
    (tmp_path / "feed.xml").write_text("<rss version='2.0'><channel><title>x</title>"
                                       "</channel></rss>", "utf-8")
    if secret is None:
        monkeypatch.delenv("DIGEST_SECRET")
    else:
        monkeypatch.setenv("DIGEST_SECRET", secret)
    result = run(path, *args)
    assert result.exit_code == 2, result.output
    assert "[delivery] secret_env: " in result.output
    expected = {None: "is not set", "short-secret": "too short"}.get(secret, "must be random")
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "outbox").exists() and not (tmp_path / ".digest").exists()
