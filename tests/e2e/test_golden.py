"""A whole build from the bundled samples must equal the committed golden files.

Regenerate after an intended change with: DIGEST_UPDATE_GOLDEN=1 python -m pytest
tests/e2e/test_golden.py (then read the diff before committing it).
"""

from __future__ import annotations

import difflib
import email
import json
import os
import re
import shutil
from email import policy
from pathlib import Path

import pytest

from tests.helpers import GOLDEN, NOW_ISO, run


def normalized_eml(raw: bytes, root: Path) -> str:
    """Headers and decoded parts. Masked: the project's path (a temp folder) and the
    Message-ID's hash (keyed with the state database's random id). Date and the
    boundary are the same on every machine."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    lines = []
    for part in msg.walk():
        for name, value in part.items():
            if name == "Message-ID":
                value, n = re.subn(r"^<(the-china-connection-1)\.[0-9a-f]{32}@(example\.com)>$",
                                   r"<\1.<hash>@\2>", str(value))
                assert n == 1, value
            lines.append(f"{name}: {value}")
        if not part.is_multipart():
            body = part.get_content().replace("\r\n", "\n")
            lines += ["", body.replace(root.as_uri(), "file://<ROOT>")]
        lines.append("----")
    return "\n".join(lines) + "\n"


def normalized_manifest(folder: Path) -> str:
    """issue.json with the values that differ by machine and run masked: the
    placeholder marker and the state database's id (random by design) and the HTML
    size (it counts the file:// paths of the sample images, so it depends on the
    temp folder's name)."""
    data = json.loads((folder / "issue.json").read_text("utf-8"))
    assert re.fullmatch(r"[0-9a-f]{24}", data["marker"])
    assert re.fullmatch(r"[0-9a-f]{32}", data["state_id"])
    assert data["html_bytes"] == len((folder / "email.template.html").read_bytes())
    data["marker"] = data["state_id"] = data["html_bytes"] = "<masked>"
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


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


@pytest.mark.parametrize("nest", ["", "a/deeper/project/folder/" + "n" * 37])
def test_whole_build_matches_golden_files(sample_project: Path, tmp_path: Path, nest: str):
    """The same files whatever the project's path (pytest's temp folder names vary)."""
    root = tmp_path / nest
    if nest:
        root.mkdir(parents=True)
        shutil.copytree(tmp_path / "samples", root / "samples")
        shutil.copy(sample_project, root / "config.toml")
    env = {"DIGEST_NOW": NOW_ISO, "DIGEST_SECRET": "golden-secret-0123456789-0123456789-01"}
    result = run(root / "config.toml", "build", env=env)
    assert result.exit_code == 0, result.output
    folder = root / "outbox" / "2026-11-30-the-china-connection-1"
    assert folder.is_dir(), result.output
    compare("issue.json", normalized_manifest(folder))
    compare("email.txt", (folder / "email.txt").read_text("utf-8"))
    compare("message.eml.txt", normalized_eml((folder / "message.eml").read_bytes(),
                                              root.resolve()))
