"""A built issue to send in tests: built once from the bundled samples, then copied
(state database and outbox) into each test's folder with its own [delivery]/[smtp]."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from digest import pipeline
from digest.config.load import load_config

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "digest" / "samples"

NEWSLETTER = """
[newsletter]
name = "The China Connection"
timezone = "Asia/Shanghai"
postal_address = "Digest Sample Media, 1 Example Road, Singapore 000000"
"""


def build_issue(folder: Path) -> Path:
    """Build issue #1 from the bundled sample feeds in `folder`; returns the folder."""
    shutil.copytree(SAMPLES / "feeds", folder / "samples" / "feeds")
    feeds = "".join(f'\n[[feeds]]\nurl = "samples/feeds/{p.name}"\n'
                    for p in sorted((folder / "samples" / "feeds").iterdir()))
    (folder / "config.toml").write_text(
        NEWSLETTER + "\n[editor]\nmax_age_days = 0\n\n[schedule]\nmin_new_items = 3\n"
        + '\n[enrich]\npages = "never"\n'
        + DELIVERY.format(recipients='recipients = ["editor@example.com"]') + feeds, "utf-8")
    result = pipeline.build(load_config(folder / "config.toml"))
    assert result.status == "built", result.message
    return folder


DELIVERY = """
[delivery]
mode = "smtp"
from = "The China Connection <digest@example.com>"
{recipients}
unsubscribe_url = "https://example.com/unsubscribe?token={{token}}"
unsubscribe_mailto = "unsubscribe@example.com"
"""


def project(built: Path, dest: Path, port: int, *, emails: list[str] | None = None,
            csv: str | None = None, smtp: dict[str, Any] | None = None, extra: str = ""
            ) -> Path:
    """Copy the built issue to `dest` with a config sending to 127.0.0.1:port."""
    shutil.copytree(built / ".digest", dest / ".digest")
    shutil.copytree(built / "outbox", dest / "outbox")
    if csv is not None:
        (dest / "subscribers.csv").write_text(csv, "utf-8")
        recipients = 'recipients_file = "subscribers.csv"'
    else:
        recipients = f"recipients = {json.dumps(emails or [])}"
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": port, "security": "none",
                                "connections": 2, "retry_delay": 0.02, "timeout": 10,
                                **(smtp or {})}
    smtp_table = "\n[smtp]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    path = dest / "config.toml"
    path.write_text(NEWSLETTER + DELIVERY.format(recipients=recipients) + smtp_table
                    + "\n" + extra, "utf-8")
    return path

