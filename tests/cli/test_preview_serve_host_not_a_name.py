"""`digest preview --serve --host H` with an H no resolver can take (an empty label,
a label too long) fails in one line naming it: before, a UnicodeError traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import config_with, error_line, run


@pytest.mark.parametrize("host", ["../../etc", "a..b", "x" * 300])
def test_a_host_that_is_not_a_name_is_one_line(tmp_path: Path, host: str) -> None:
    config = config_with(tmp_path, None)
    result = run(config, "preview", "--serve", "--host", host, "--port", "0")
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert line.startswith(f"error: --host {host!r}: ") and \
        line.endswith("give an address of this machine, such as 127.0.0.1"), line
