"""What the tests share: the CLI runner, the pinned clock, a real HTTP server for
feeds, configs and feeds written to tmp folders, and the checks several suites make.
Test modules import from here (and from the data helpers send_project, smtp_server,
real_shapes, make_corpus), never from one another."""

from __future__ import annotations

import email
import email.message
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import chdir, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.utils import formatdate
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from click.testing import CliRunner, Result

from digest.cli.main import main
from digest.tokens import make_token

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SAMPLES = ROOT / "digest" / "samples"
CORPUS = TESTS / "corpus"  # made by tests/make_corpus.py
GOLDEN = TESTS / "golden"

# -- the pinned clock ------------------------------------------------------------------
# Tests pin `now` to Monday 30 November 2026, 08:00, either in the sample newsletter's
# timezone (Asia/Shanghai, +08:00) or in UTC: a datetime, its ISO string (DIGEST_NOW's
# format) and the environment that pins the CLI's clock, for each.

NOW = datetime.fromisoformat("2026-11-30T08:00:00+08:00")
NOW_ISO = NOW.isoformat()  # "2026-11-30T08:00:00+08:00"
NOW_ENV = {"DIGEST_NOW": NOW_ISO}
NOW_UTC = datetime(2026, 11, 30, 8, tzinfo=UTC)
NOW_UTC_ISO = NOW_UTC.isoformat()  # "2026-11-30T08:00:00+00:00"
NOW_UTC_ENV = {"DIGEST_NOW": NOW_UTC_ISO}


def on_day(day: int) -> str:
    """08:00 UTC on `day` November 2026, as DIGEST_NOW spells it."""
    return f"2026-11-{day:02d}T08:00:00+00:00"


# -- the CLI ---------------------------------------------------------------------------

def run(config: Path | str | None, *args: str, env: Mapping[str, str | None] | None = None,
        now: str | None = None, input: str | bytes | None = None, cwd: Path | None = None,
        expect: int | None = None, terminal_width: int | None = None) -> Result:
    """`digest --config CONFIG ARGS...` through click's CliRunner (no `--config` when
    `config` is None).

    env: variables set for the command (None unsets one); now: DIGEST_NOW for it;
    input: its stdin; cwd: the folder it runs in; expect: the exit status it must end
    with (and no exception escaped it); terminal_width: for help text."""
    argv = [*args] if config is None else ["--config", str(config), *args]
    variables = dict(env or {})
    if now is not None:
        variables["DIGEST_NOW"] = now
    with chdir(cwd) if cwd is not None else nullcontext():
        result = CliRunner().invoke(main, argv, env=variables, input=input,
                                    terminal_width=terminal_width)
    if expect is not None:
        command = " ".join(args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"digest {command} raised:\n{result.output}")
        assert result.exit_code == expect, (
            f"digest {command} exited {result.exit_code}:\n{result.output}")
    return result


def error_line(result: Result) -> str:
    """The one `error:` line of a clean failure (no exception escaped the command)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def init_and_build(folder: Path, *build_args: str) -> Path:
    """`digest init FOLDER` then `digest build ARGS` on the bundled samples, with no
    secret and the clock at 2026-11-30 08:00 UTC; the folder."""
    env = {"DIGEST_NOW": "2026-11-30T08:00:00+00:00", "DIGEST_SECRET": None,
           "DIGEST_CONFIG": None}
    made = run(None, "init", str(folder), env=env)
    assert made.exit_code == 0, made.output
    built = run(folder / "config.toml", "build", *build_args, env=env)
    assert built.exit_code == 0, built.output
    return folder


# -- a real HTTP server for feeds --------------------------------------------------------

@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml"
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds before answering (timeouts)
    # answer only once the test sets it (at most GATE_WAIT s): a fetch that lasts exactly
    # as long as the test needs, whatever the machine's load
    gate: threading.Event | None = None
    headers: dict[str, str] = field(default_factory=dict)


GATE_WAIT = 60.0


class _Server(ThreadingHTTPServer):
    # The backlog is fixed when the socket binds: socketserver's 5 drops the SYNs of a
    # client opening many connections at once, and each retry waits a second.
    daemon_threads = True
    request_queue_size = 128


class FeedServer:
    """A real HTTP server on 127.0.0.1 serving programmable routes; logs requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.static: Path | None = None  # serve files below this folder too
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK wait per response

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path) or server.static_route(self.path)
                if route is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.gate is not None:
                    route.gate.wait(GATE_WAIT)
                validators: dict[str, str] = {}
                if route.etag:
                    validators["ETag"] = route.etag
                if route.last_modified:
                    validators["Last-Modified"] = route.last_modified
                fresh = (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                    route.last_modified
                    and self.headers.get("If-Modified-Since") == route.last_modified
                )
                if fresh and route.status == 200:
                    self._send(304, b"", validators)
                    return
                headers = {"Content-Type": route.content_type, **validators, **route.headers}
                self._send(route.status, route.body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if body:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def static_route(self, path: str) -> Route | None:
        if self.static is None:
            return None
        file = (self.static / path.split("?")[0].lstrip("/")).resolve()
        if not file.is_file() or self.static.resolve() not in file.parents:
            return None
        types = {".xml": "application/rss+xml", ".atom": "application/atom+xml",
                 ".jpg": "image/jpeg", ".png": "image/png", ".html": "text/html; charset=utf-8"}
        return Route(file.read_bytes(), content_type=types.get(file.suffix, "text/plain"))

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]


TEST_SECRET = "tests-only-secret-0123456789abcdef0123456789"


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


BASE_CONFIG = """
[newsletter]
name = "The China Connection"
dek = "Insights and analysis on what's driving the world's second-largest economy"
intro = "This report is from this week's {name} newsletter. You can [subscribe here](https://example.com/subscribe)."
language = "en"
timezone = "Asia/Shanghai"
web_url = "https://example.com/newsletter"
subscribe_url = "https://example.com/subscribe"
postal_address = "Digest Sample Media, 1 Example Road, Singapore 000000"

[editor]
max_age_days = 0
boost = ["tariff", "yuan"]

[[coming_up]]
date = 2026-12-07
event = "China November trade data"

[[coming_up]]
date = 2026-11-01
event = "Already past: never shown"

[schedule]
min_new_items = 3

[enrich]
pages = "never"  # tests of enrichment turn it on; no test reads pages from the internet

[delivery]
from = "The China Connection <digest@example.com>"
recipients = ["editor@example.com"]
unsubscribe_url = "https://example.com/unsubscribe?token={token}"
"""


def feeds_toml(feeds: list[dict[str, Any]]) -> str:
    out = []
    for feed in feeds:
        out.append("[[feeds]]")
        for key, value in feed.items():
            out.append(f"{key} = {value!r}".replace("'", '"'))
        out.append("")
    return "\n".join(out)


def config_with(folder: Path, feeds: list[dict[str, Any]] | None = None, extra: str = "", *,
                base: str = BASE_CONFIG, editor: str = "", name: str = "config.toml") -> Path:
    """Write folder/config.toml: `base` (BASE_CONFIG), `editor` lines added at the top of
    its [editor] table, then the `extra` tables, then one [[feeds]] table per feed
    ({"url": ..., "name": ...}). Returns its path."""
    if editor:
        base = base.replace("[editor]\n", f"[editor]\n{editor}\n", 1)
    path = folder / name
    path.write_text(base + "\n" + extra + "\n" + feeds_toml(feeds or []), "utf-8")
    return path


# -- feeds -------------------------------------------------------------------------------

def rss(items: int, prefix: str = "Story", start: int = 0) -> bytes:
    """An RSS feed of `items` stories "PREFIX i: exports grew ...", numbered from `start`."""
    entries = "".join(
        f"""<item><title>{prefix} {i}: exports grew {i}.{i}% in the month</title>
        <link>https://news.example.com/{prefix.lower()}/{i}</link><guid>{prefix}-{i}</guid>
        <pubDate>Mon, {16 + i % 10} Nov 2026 08:00:00 +0800</pubDate>
        <description>Summary of {prefix.lower()} {i}. It has two sentences.</description></item>"""
        for i in range(start, start + items)
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
            f"<link>https://news.example.com/</link>{entries}</channel></rss>").encode()


def item(i: int, title: str, summary: str, body: str = "", category: str = "") -> str:
    """One RSS <item>, dated 29 November 2026 minus i % 9 days."""
    content = f"<content:encoded><![CDATA[{body}]]></content:encoded>" if body else ""
    cat = f"<category>{category}</category>" if category else ""
    return (f"<item><title>{title}</title><link>https://news.example.com/{i}</link>"
            f"<guid>g{i}</guid><pubDate>{29 - i % 9} Nov 2026 08:00:00 +0000</pubDate>"
            f"<description>{summary}</description>{cat}{content}</item>")


def feed(items: list[str]) -> str:
    """An RSS feed (with content:encoded) of `item(...)` strings."""
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T'
            f"</title><link>https://news.example.com/</link>{''.join(items)}</channel></rss>")


def build_preview(tmp_path: Path, items: list[str], extra: str = "", base: str = BASE_CONFIG
                  ) -> tuple[str, str, email.message.EmailMessage]:
    """`digest build --preview` of a feed of `items`: the email's HTML, its text and
    the message."""
    (tmp_path / "feed.xml").write_text(feed(items), "utf-8")
    # Stories in any language: these tests are about how each script is marked up.
    config = config_with(tmp_path, [{"url": "feed.xml", "name": "Wire"}], extra, base=base,
                         editor='languages = ["*"]')
    result = run(config, "build", "--preview", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "outbox" / "preview"
    message = email.message_from_bytes((folder / "message.eml").read_bytes(),
                                       policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return ((folder / "email.html").read_text("utf-8"), (folder / "email.txt").read_text("utf-8"),
            message)


ENGLISH_ITEMS = [
    item(0, "Factory output rises for a third month as new orders pick up",
         "Output grew at the fastest pace since spring. Orders from abroad were strong.",
         "<p>First paragraph of the story, long enough to be a paragraph.</p>"
         "<p>Second paragraph of the story.</p>", "Economy"),
    *[item(i, f"Story number {i} about ports, shipping and markets this week",
           "A summary that says a little more about the story. " * 6, category="Trade")
      for i in range(1, 11)],
]


# -- sending ------------------------------------------------------------------------

SECRET = "test-secret-0123456789-0123456789-0123456789"


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """DIGEST_SECRET set to SECRET, for every test of a module that imports this
    fixture by name (`from tests.helpers import secret  # noqa: F401`)."""
    monkeypatch.setenv("DIGEST_SECRET", SECRET)


# -- the daemon --------------------------------------------------------------------------

def set_schedule(config: Path, schedule: str) -> Path:
    """Put keys into the base config's [schedule] table."""
    text = config.read_text("utf-8").replace("[schedule]\n", "[schedule]\n" + schedule + "\n", 1)
    config.write_text(text, "utf-8")
    return config


def issues(config: Path) -> list[tuple[int, str | None, str]]:
    db = config.parent / ".digest" / "state.db"
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT number, slot, state FROM issues ORDER BY number").fetchall()


class Digest:
    """`python -m digest ...` as a subprocess, its stderr lines collected as they come."""

    def __init__(self, config: Path, *args: str, now: str | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "500"}  # no wrapping
        env.pop("DIGEST_NOW", None)
        if now:
            env["DIGEST_NOW"] = now
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "--config", str(config), *args],
            cwd=config.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        self.lines: list[str] = []
        self.stdout = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr and self.proc.stdout
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
        with self.proc.stdout:
            self.stdout = self.proc.stdout.read()

    def wait_for(self, test: Callable[[list[str]], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not test(list(self.lines)):
            if self.proc.poll() is not None and not self.reader.is_alive():
                pytest.fail(f"digest exited {self.proc.returncode}:\n" + self.log)
            if time.monotonic() > deadline:
                pytest.fail("timed out; log so far:\n" + self.log)
            time.sleep(0.05)

    def finish(self, timeout: float = 15) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return code

    @property
    def log(self) -> str:
        return "\n".join(self.lines)


# -- what feed text must never do to an issue (the corpus and property tests) ------------

READER = "reader.q7@example.net"

CORPUS_CONFIG = f"""
[newsletter]
name = "Corpus Check"
timezone = "UTC"
web_url = "https://example.com/newsletter"

[editor]
max_age_days = 0
languages = ["*"]  # the corpus is in many languages: every story can be placed

[layout]
need_to_know = 50
max_per_feed = 100
read_more = 100
max_html_kb = 10000

[schedule]
min_new_items = 1

[enrich]
pages = "never"  # the corpus's links lead nowhere; enrichment has its own tests

[delivery]
from = "Corpus Check <digest@example.com>"
recipients = ["{READER}"]
unsubscribe_url = "https://example.com/unsubscribe?token={{token}}"
"""

# -- the executable-markup check -----------------------------------------------------

FORBIDDEN_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet",
                  "form", "base", "link", "input", "button", "textarea", "select",
                  "isindex", "svg", "math", "template", "noscript", "xmp", "plaintext"}
URL_ATTRS = {"href", "src", "action", "formaction", "background", "poster", "data",
             "xlink:href", "lowsrc", "dynsrc", "longdesc", "cite", "codebase", "srcdoc"}
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")
# Opening tags in the raw text: escaped feed text (&lt;script) never matches.
RAW_PATTERNS = [re.compile(p, re.I) for p in (
    r"<\s*script", r"<\s*iframe", r"<\s*object", r"<\s*embed", r"<\s*form\b",
    r"<\s*meta[^>]+http-equiv\s*=\s*[\"']?refresh")]
ATTR_VALUE = re.compile(r"""=\s*("[^"]*"|'[^']*')""")
CSS_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]*)", re.I)
CSS_CODE = re.compile(r"expression\s*\(|-moz-binding|behavior\s*:", re.I)


def _bad_css(css: str) -> bool:
    return bool(CSS_CODE.search(css)) or any(_bad_url(u) for u in CSS_URL.findall(css))


def _bad_url(value: str) -> bool:
    squeezed = re.sub(r"[\x00-\x20\x7f]+", "", value).lower()
    return squeezed.startswith(BAD_SCHEMES)


def _attr_problems(tag: str, attrs: Iterable[tuple[str, str | None]]) -> list[str]:
    problems = []
    if tag in FORBIDDEN_TAGS:
        problems.append(f"<{tag}> element")
    for name, value in attrs:
        name, value = name.lower(), value or ""
        if name.startswith("on"):
            problems.append(f"<{tag} {name}=...> event handler")
        if name in URL_ATTRS and _bad_url(value):
            problems.append(f"<{tag} {name}={value[:60]!r}>")
        if name == "srcset" and any(_bad_url(c.strip().split(" ")[0])
                                    for c in value.split(",")):
            problems.append(f"<{tag} srcset={value[:60]!r}>")
        if name == "style" and _bad_css(value):
            problems.append(f"<{tag} style={value[:60]!r}>")
        if tag == "meta" and name == "http-equiv" and value.strip().lower() == "refresh":
            problems.append("<meta http-equiv=refresh>")
    return problems


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems += _attr_problems(tag.lower(), attrs)

    handle_startendtag = handle_starttag


def executable_markup(html: str) -> list[str]:
    """Every way `html` could run code or navigate by itself, found by two HTML parsers
    (lxml's and the standard library's) and by patterns on the raw text."""
    # Quoted attribute values are left out of the raw check: a `<` inside one opens
    # nothing (see test_no_raw_markup_in_attribute_values for that stricter wish).
    outside = ATTR_VALUE.sub('=""', html)
    problems = [f"raw text matches {p.pattern!r}: ...{m.group(0)}..."
                for p in RAW_PATTERNS for m in [p.search(outside)] if m]
    collector = _Collector()
    collector.feed(html)
    collector.close()
    problems += collector.problems
    root = lxml.html.document_fromstring(html.encode("utf-8"))
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue  # comments and processing instructions
        tag = el.tag.lower()
        problems += _attr_problems(tag, el.attrib.items())
        if tag == "style" and _bad_css(el.text or ""):
            problems.append("<style> with a script URL or CSS expression")
    return sorted(set(problems))


# -- reading what was written ----------------------------------------------------------

def message_parts(eml: bytes) -> tuple[str, str]:
    """The decoded HTML and text parts of a message.eml."""
    message = email.message_from_bytes(eml, policy=policy.default)
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None, "message.eml lacks a part"
    return html.get_content(), text.get_content()


def personalisation_problems(folder: Path, reader: str = READER) -> list[str]:
    """What would show that feed text was personalised in the folder's message.eml:
    the reader's address in a body part, the reader's token anywhere but the one
    unsubscribe link per part, or a placeholder of this render left unsubstituted."""
    marker = json.loads((folder / "issue.json").read_text("utf-8"))["marker"]
    html, text = message_parts((folder / "message.eml").read_bytes())
    token = make_token(TEST_SECRET.encode(), reader)
    problems = []
    for name, part in (("html", html), ("text", text)):
        if reader in part:
            problems.append(f"{reader} in the {name} part")
        if part.count(token) != 1:
            problems.append(f"the reader's token {part.count(token)} times in the {name} part")
        if marker in part:
            problems.append(f"this render's placeholder marker left in the {name} part")
    return problems


def header_problems(eml: bytes, reader: str = READER) -> list[str]:
    """Feed text (the headline in the Subject) must not add or bend a header."""
    message = email.message_from_bytes(eml, policy=policy.default)
    names = [k.lower() for k in message.keys()]
    problems = [f"{k} header" for k in ("cc", "bcc", "reply-to") if k in names]
    problems += [f"{k} twice" for k in sorted(set(names)) if names.count(k) > 1]
    if message["To"] != reader:
        problems.append(f"To is {message['To']!r}")
    if re.search(r"[\r\n]", str(message["Subject"])):
        problems.append("a line break in the Subject")
    return problems



# -- digest serve ------------------------------------------------------------------------

class WebClock:
    """The web app's clock in a test: real time when made, then moved only by the test."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def readers_config(folder: Path, base: str, smtp_port: int, extra: str = "") -> Path:
    """A config for `digest serve` at `base`, mailing through 127.0.0.1:`smtp_port`
    (no TLS), with `extra` TOML at the end."""
    path = folder / "config.toml"
    path.write_text(
        BASE_CONFIG.replace('recipients = ["editor@example.com"]',
                            'recipients = ["editor@example.com"]\nmode = "smtp"')
        .replace('web_url = "https://example.com/newsletter"', f'web_url = "{base}"')
        .replace('unsubscribe_url = "https://example.com/unsubscribe?token={token}"',
                 f'unsubscribe_url = "{base}/unsubscribe?token={{token}}"')
        + f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        + extra, "utf-8")
    return path


class Serving:
    """`digest serve`'s app on a real uvicorn in a thread (lifespan on: the confirmation
    worker runs), on 127.0.0.1:`port`."""

    def __init__(self, config: Path, port: int, clock: Callable[[], float]) -> None:
        import uvicorn

        from digest.config.load import load_config
        from digest.web.app import make_app

        self.base = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(
            make_app(load_config(config), clock=clock), host="127.0.0.1", port=port,
            log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Serving:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def form_csrf(page: str) -> str:
    """The CSRF token of the (first) form on a page of `digest serve`."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def confirm_link(message: email.message.EmailMessage) -> str:
    """The confirmation link in a confirmation mail."""
    found = re.search(r"(http://\S+/confirm\?token=\S+)", message.get_content())
    assert found
    return found.group(1)


def wait_for(condition: Callable[[], Any], seconds: float = 10) -> Any:
    """`condition()` once it is truthy (polled), else its last value after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


def dkim_key(folder: Path) -> bytes:
    """A fresh 2048-bit RSA key written as `folder/dkim.pem`; returns the DNS TXT record
    (`v=DKIM1; k=rsa; p=...`) a verifier looks up for it."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / "dkim.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
