"""The subscriber list: inline or CSV, validated, deduplicated."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.addresses import AddressError, parse_address
from digest.config.load import parse_config
from digest.deliver.recipients import load_recipients, parse_csv, parse_inline
from digest.errors import ConfigError


def test_csv_bad_rows_reported_with_line_numbers_and_skipped() -> None:
    data = (
        "email,name,company\n"
        "ann@example.com,Ann Lee,Acme\n"
        "not-an-address,Bad Row,\n"
        "\n"
        "ANN@Example.com,Ann Again,\n"
        "bob@example.com\n"
        "carol@exa mple.com,Carol,\n"
        '"dan@example.com","Doe, Dan",Dunder\n'
    )
    result = parse_csv(data, source="subs.csv")
    assert [r.email for r in result.recipients] == ["ann@example.com", "bob@example.com",
                                                   "dan@example.com"]
    assert result.problems == (
        "subs.csv line 3: 'not-an-address' is not a valid email address: an email address "
        "must have an @-sign; row skipped",
        "subs.csv line 5: ANN@Example.com repeats subs.csv line 2; duplicate skipped",
        "subs.csv line 7: 'carol@exa mple.com' is not a valid email address: the part after "
        "the @-sign contains invalid characters: SPACE; row skipped",
    )
    assert result.duplicates == 1
    dan = result.recipients[2]
    assert dan.name == "Doe, Dan"
    assert dan.values() == {"company": "Dunder", "email": "dan@example.com", "name": "Doe, Dan"}
    assert result.recipients[1].name == ""


def test_csv_without_email_column_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"subs\.csv line 1: no 'email' column"):
        parse_csv("address,name\na@example.com,A\n", source="subs.csv")


def test_names_cannot_inject_headers() -> None:
    result = parse_csv('email,name\na@example.com,"Eve\r\nBcc: x@evil.example"\n', "s.csv")
    assert result.recipients[0].name == "Eve Bcc: x@evil.example"


def test_inline_list_with_display_names() -> None:
    result = parse_inline(["Ann Lee <ann@example.com>", "bob@example.com", "BOB@example.com",
                           "nobody"])
    assert [(r.name, r.email) for r in result.recipients] == [
        ("Ann Lee", "ann@example.com"), ("", "bob@example.com")]
    assert result.problems[1].startswith("[delivery] recipients[2]: BOB@example.com repeats")
    assert "recipients[3]: 'nobody' is not a valid email address" in result.problems[0]


@pytest.mark.parametrize("address,ok", [
    ("a@example.com", True), ("first.last+tag@sub.example.co.uk", True),
    ("a@localhost", False), ("a..b@example.com", False), ("a@-example.com", False),
    ("zoë@example.com", False), ("a@example.com\r\nBcc: b@example.com", False),
    ("<a@example.com>", False), ("x" * 65 + "@example.com", False),
])
def test_valid_address(address: str, ok: bool) -> None:
    try:
        parse_address(address)
    except AddressError:
        assert not ok
    else:
        assert ok


def test_load_from_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "subs.csv").write_text("\ufeffEmail,Name\nann@example.com,Ann\n", "utf-8")
    config = parse_config({"newsletter": {"name": "N"},
                           "delivery": {"recipients_file": "subs.csv"}}, base_dir=tmp_path)
    result = load_recipients(config)
    assert [(r.email, r.name) for r in result.recipients] == [("ann@example.com", "Ann")]
    missing = parse_config({"newsletter": {"name": "N"},
                            "delivery": {"recipients_file": "nope.csv"}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"\[delivery\] recipients_file: .*nope\.csv not found"):
        load_recipients(missing)
