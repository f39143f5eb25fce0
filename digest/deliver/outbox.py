"""Write an issue folder: email.html, email.txt, message.eml, issue.json (and the
un-personalized email.template.html / .txt that SMTP sending reads).

Written into a hidden temp folder and renamed into place, so a reader never sees a
half-written issue; an existing issue folder is never overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OutboxError
from ..models import RenderedIssue

PREVIEW = "preview"
TEMPLATE_HTML = "email.template.html"
TEMPLATE_TEXT = "email.template.txt"


@dataclass(frozen=True)
class OutboxFiles:
    html: str
    text: str
    eml: bytes
    manifest: dict[str, Any]
    # Both parts with the per-recipient sentinels still in: what SMTP sending reads.
    template_html: str
    template_text: str


def issue_folder_name(rendered: RenderedIssue, slug: str) -> str:
    issue = rendered.issue
    return f"{issue.date.date().isoformat()}-{slug}-{issue.number}"


def write_outbox(outbox: Path, name: str, files: OutboxFiles, *, replace: bool = False) -> Path:
    """Write the issue folder atomically. `replace` is only for the preview folder."""
    try:
        outbox.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutboxError(f"cannot create outbox {outbox}: {e.strerror}; check "
                          "[delivery] outbox_dir") from None
    final = outbox / name
    if final.exists() and not replace:
        raise OutboxError(f"outbox folder {final} already exists; digest never overwrites an "
                          "issue: move it away if it is stale")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=outbox))
    try:
        _write(tmp / "email.html", files.html.encode("utf-8"))
        _write(tmp / "email.txt", files.text.encode("utf-8"))
        _write(tmp / "message.eml", files.eml)
        _write(tmp / TEMPLATE_HTML, files.template_html.encode("utf-8"))
        _write(tmp / TEMPLATE_TEXT, files.template_text.encode("utf-8"))
        manifest = json.dumps(files.manifest, indent=2, ensure_ascii=False, sort_keys=False)
        _write(tmp / "issue.json", (manifest + "\n").encode("utf-8"))
        os.chmod(tmp, 0o755)
        if replace and final.exists():
            old = outbox / f".{name}.old"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
        _fsync_dir(outbox)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutboxError(f"cannot write issue folder {final}: {e}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def remove_issue_folder(path: Path) -> None:
    """Undo a write whose database commit failed."""
    shutil.rmtree(path, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

