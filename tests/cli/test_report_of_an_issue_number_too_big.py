"""`digest report N` with an N past what SQLite can hold says the issue does not
exist, in one line, like `digest status N` and `digest send N`: before, a traceback
(OverflowError: Python int too large to convert to SQLite INTEGER)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import config_with, error_line, run


def test_a_huge_issue_number_is_an_issue_that_does_not_exist(tmp_path: Path) -> None:
    config = config_with(tmp_path, None)
    run(config, "status", expect=0)  # makes the state database
    result = run(config, "report", "99999999999999999999")
    assert result.exit_code == 1, result.output
    assert error_line(result) == ("error: issue #99999999999999999999 does not exist; "
                                  "`digest status` lists the issues")
