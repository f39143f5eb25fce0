"""A whole build from the bundled samples must equal the committed golden files.

Regenerate after an intended change with: DIGEST_UPDATE_GOLDEN=1 python -m pytest
tests/test_golden.py (then read the diff before committing it).
"""

from __future__ import annotations

import difflib
import email
import os
import re
from email import policy
from pathlib import Path

from click.testing import CliRunner

from digest.cli import main

GOLDEN = Path(__file__).parent / "golden"
NOW = "2026-11-30T08:00:00+08:00"


def normalized_eml(raw: bytes, root: Path) -> str:
    """Headers and decoded parts, with Date, Message-ID, boundaries and paths masked."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    lines = []
    for part in msg.walk():
        for name, value in part.items():
            if name.lower() in ("date", "message-id"):
                value = f"<{name.lower()} masked>"
            value = re.sub(r'boundary="[^"]+"', 'boundary="<masked>"', str(value))
            lines.append(f"{name}: {value}")
        if not part.is_multipart():
            body = part.get_content().replace("\r\n", "\n")
            lines += ["", body.replace(root.as_uri(), "file://<ROOT>")]
        lines.append("----")
    return "\n".join(lines) + "\n"


def compare(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DIGEST_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, "utf-8")
    expected = path.read_text("utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            f"golden/{name}", "actual", n=2))
        raise AssertionError(f"{name} differs from the golden file:\n{diff[:6000]}")


def test_whole_build_matches_golden_files(sample_project: Path, tmp_path: Path):
    env = {"DIGEST_NOW": NOW, "DIGEST_SECRET": "golden-secret"}
    result = CliRunner().invoke(main, ["--config", str(sample_project), "build"], env=env)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "outbox" / "2026-11-30-the-china-connection-1"
    assert folder.is_dir(), result.output
    compare("issue.json", (folder / "issue.json").read_text("utf-8"))
    compare("email.txt", (folder / "email.txt").read_text("utf-8"))
    compare("message.eml.txt", normalized_eml((folder / "message.eml").read_bytes(),
                                              tmp_path.resolve()))
