"""Start-up: each command imports only what it needs (issue 19 item 2). Each case runs
the real CLI in a fresh interpreter (`python -c` running `python -m digest ARGS`) and
reads the modules it loaded from sys.modules afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ENGLISH_ITEMS, NOW_UTC_ISO, SECRET, config_with, feed

# Heavy libraries (measured with `python -X importtime`): the renderers, the feed
# parsers, HTTP, pictures, pages and the web app.
RENDER = ["jinja2", "mjml", "premailer", "cssutils"]
PARSE = ["feedparser", "feedparser_rs", "lxml", "lxml_html_clean", "trafilatura"]
FETCH = ["httpx", "httpcore", "trio"]
PICTURES_PAGES_WEB = ["PIL", "trafilatura", "starlette", "uvicorn", "lxml_html_clean"]
NOTHING_HEAVY = RENDER + PARSE + FETCH + ["PIL", "starlette", "uvicorn", "email_validator"]

# Runs the CLI's main as `python -m digest` does, then writes the top-level packages
# loaded to the file named by argv[1] (stdout is the command's).
PROBE = """
import json, runpy, sys
out = sys.argv[1]
sys.argv = ["digest", *sys.argv[2:]]
try:
    runpy.run_module("digest", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
finally:
    with open(out, "w") as f:
        json.dump(sorted({name.split(".")[0] for name in sys.modules}), f)
"""

# Imports what `digest send` loads to send (the SMTP sender and its message builder)
# without connecting anywhere.
SEND_PROBE = """
import json, sys
import digest.cli.send, digest.deliver.smtp
with open(sys.argv[1], "w") as f:
    json.dump(sorted({name.split(".")[0] for name in sys.modules}), f)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DIGEST_CONFIG", "COLUMNS")}
    env.update(DIGEST_NOW=NOW_UTC_ISO, DIGEST_SECRET=SECRET)
    return env


def _loaded(tmp_path: Path, code: str, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", code, str(out), *args], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert out.exists(), done.stderr
    return set(json.loads(out.read_text("utf-8")))


def test_version_imports_nothing_heavy(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, PROBE, "--version")
    assert loaded.isdisjoint(NOTHING_HEAVY), sorted(loaded & set(NOTHING_HEAVY))


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, PROBE, "--help")
    assert loaded.isdisjoint(NOTHING_HEAVY), sorted(loaded & set(NOTHING_HEAVY))


def test_send_help_imports_nothing_heavy(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, PROBE, "send", "--help")
    assert loaded.isdisjoint(NOTHING_HEAVY), sorted(loaded & set(NOTHING_HEAVY))


def test_send_loads_no_parser_renderer_or_fetcher(tmp_path: Path) -> None:
    # The sender used to reach digest.render.email (for one regex) and through it
    # Jinja2, the feed parsers and lxml.
    loaded = _loaded(tmp_path, SEND_PROBE)
    banned = set(RENDER + PARSE + FETCH + PICTURES_PAGES_WEB)
    assert loaded.isdisjoint(banned), sorted(loaded & banned)


def test_preview_without_pictures_or_pages_loads_no_pillow_pages_or_web(
        tmp_path: Path) -> None:
    # BASE_CONFIG reads no pages ([enrich] pages = "never"), publishes no site, and
    # these stories carry no picture.
    (tmp_path / "feed.xml").write_text(feed(ENGLISH_ITEMS), "utf-8")
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}],
                         editor='languages = ["*"]')
    loaded = _loaded(tmp_path, PROBE, "--config", str(config), "build", "--preview")
    assert (tmp_path / "outbox" / "preview" / "email.html").exists()
    assert loaded.isdisjoint(PICTURES_PAGES_WEB), sorted(loaded & set(PICTURES_PAGES_WEB))
