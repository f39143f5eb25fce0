"""`digest preview --serve` in headless Chromium: the page shows the issue at 600 px,
at 375 px and in dark mode with the linter's findings, and a save of config.toml
changes it without a reload; an error shows as text in a banner while the last good
preview stays.

The server is the real command in a subprocess; Chromium is driven over the DevTools
protocol through `--remote-debugging-pipe` (JSON messages ending in NUL on file
descriptors 3 and 4: no websocket client needed)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from digest.render.screenshot import ScreenshotError, chromium_command, find_chromium
from tests.helpers import run

try:
    CHROMIUM: str | None = find_chromium()
except ScreenshotError:
    CHROMIUM = None
if not CHROMIUM and os.environ.get("DIGEST_REQUIRE_BROWSER"):
    raise RuntimeError("chromium is not installed; scripts/test installs it (apt-get)")

ENV = {"DIGEST_NOW": "2026-11-30T08:00:00+00:00", "DIGEST_SECRET": None,
       "DIGEST_CONFIG": None}
SECONDS = 20.0  # the longest a test waits for the page to show something
# Starts Chromium with the pipe ends given as arguments on descriptors 3 and 4, where
# --remote-debugging-pipe wants them (copied high first, so neither overwrites the other).
PIPES = """import fcntl, os, sys
read, write = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])
os.dup2(read, 3)
os.dup2(write, 4)
os.execv(sys.argv[3], sys.argv[3:])
"""


class DevTools:
    """Headless Chromium with one page, driven over --remote-debugging-pipe."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser, self._in = os.pipe()
        self._out, from_browser = os.pipe()
        # The switches the screenshots use, less the virtual time budget (this page
        # runs in real time, waiting on the server).
        switches = [s for s in chromium_command(chromium, profile, window=(1500, 1200))[1:]
                    if not s.startswith("--virtual-time-budget")]
        self.process = subprocess.Popen(
            [sys.executable, "-c", PIPES, str(to_browser), str(from_browser), chromium,
             *switches, "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._id = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._in, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + SECONDS
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([self._out], [], [], max(left, 0))
                if not ready:
                    raise AssertionError(f"Chromium did not answer {method}")
                chunk = os.read(self._out, 1 << 20)
                if not chunk:
                    raise AssertionError(f"Chromium closed the pipe during {method}")
                self._buffer += chunk
            raw, _, self._buffer = self._buffer.partition(b"\0")
            answer = json.loads(raw)
            if answer.get("id") == self._id:
                assert "error" not in answer, (method, answer["error"])
                return answer["result"]

    def go(self, url: str) -> None:
        self.call("Page.navigate", self.session, url=url)

    def value(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", self.session, expression=expression,
                           returnByValue=True)
        assert "exceptionDetails" not in result, (expression, result["exceptionDetails"])
        return result["result"].get("value")

    def until(self, expression: str, check: Callable[[Any], bool], what: str) -> Any:
        """The value of `expression` once `check` holds for it (polled)."""
        deadline = time.monotonic() + SECONDS
        value = None
        while time.monotonic() < deadline:
            value = self.value(expression)
            if check(value):
                return value
            time.sleep(0.05)
        raise AssertionError(f"{what}: the page still shows {value!r}")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._in)
        os.close(self._out)


@pytest.fixture
def newsletter(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    assert run(None, "init", str(folder), env=ENV).exit_code == 0
    return folder


@pytest.fixture
def served(newsletter: Path) -> Iterator[str]:
    """`digest preview --serve --port 0` on the folder; its address."""
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    env.update(DIGEST_NOW=str(ENV["DIGEST_NOW"]), PYTHONUNBUFFERED="1")
    server = subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(newsletter / "config.toml"),
         "preview", "--serve", "--port", "0"], cwd=newsletter, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 60)
        line = server.stdout.readline() if ready else ""
        found = re.search(r"live preview at (http://127\.0\.0\.1:\d+/)", line)
        assert found, f"no address printed: {line!r}"
        yield found.group(1)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, errors = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            _, errors = server.communicate()
        assert "Traceback" not in errors, errors


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    if not CHROMIUM:
        pytest.skip("chromium not installed")
    tools = DevTools(CHROMIUM, tmp_path / ".chromium")
    yield tools
    tools.close()


FRAMES = """[...document.querySelectorAll("iframe")].map(f => {
  const doc = f.contentDocument;
  const ready = doc && doc.body && doc.readyState === "complete" && doc.URL.includes("/issue/");
  return ready ? {view: f.dataset.view, width: doc.documentElement.clientWidth,
                  pictures: [...doc.images].map(i => i.complete && i.naturalWidth > 0),
                  text: doc.body.innerText, scheme: getComputedStyle(doc.documentElement).colorScheme,
                  ground: getComputedStyle(doc.body).backgroundColor} : null;
})"""


def luminance(css: str) -> float:
    r, g, b = (int(float(c)) / 255 for c in re.findall(r"[\d.]+", css)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


@pytest.mark.browser
def test_a_saved_config_changes_the_page_without_a_reload(newsletter, served, browser):
    browser.go(served)
    frames = browser.until(FRAMES, lambda v: v and all(v), "the first render")
    assert [(f["view"], f["width"]) for f in frames] == [("email", 600), ("email", 375),
                                                         ("dark", 375)]
    assert all("My Newsletter" in f["text"] for f in frames)
    # The sample's pictures are files on disk (file: URLs): the page serves them.
    assert all(len(f["pictures"]) >= 7 and all(f["pictures"]) for f in frames), frames
    light, dark = frames[1], frames[2]
    assert dark["scheme"] == "dark"
    assert luminance(dark["ground"]) < luminance(light["ground"]), (dark, light)
    findings = browser.value('[...document.querySelectorAll("#findings li")]'
                             ".map(li => li.textContent)")
    assert any(f.startswith("warning: images:") for f in findings), findings
    assert browser.value('document.getElementById("title").textContent').startswith(
        "Issue #1: My Newsletter")
    browser.value('window.keptAcrossSaves = "still here"')

    edit(newsletter / "config.toml", 'name = "My Newsletter"', 'name = "The Harbour Letter"')
    after = browser.until(FRAMES, lambda v: v and all(f and "The Harbour Letter" in f["text"]
                                                      for f in v), "saving the new name")

    assert not any("My Newsletter" in f["text"] for f in after)
    assert browser.value("window.keptAcrossSaves") == "still here"  # no reload


@pytest.mark.browser
def test_an_error_shows_as_text_and_the_last_good_preview_stays(newsletter, served, browser):
    browser.go(served)
    browser.until(FRAMES, lambda v: v and all(v), "the first render")
    shown = browser.value("document.body.dataset.render")
    hostile = "<img src=x onerror=window.ran=1>"

    edit(newsletter / "config.toml", "[newsletter]\n",
         f'[newsletter]\nlanguage = "{hostile}"\n')
    banner = browser.until('document.getElementById("error").hidden ? null : '
                           'document.getElementById("error").textContent', bool,
                           "a config error")

    assert "[newsletter] language" in banner and hostile in banner
    assert browser.value('document.querySelectorAll("#error *").length') == 0
    assert browser.value("window.ran") is None
    assert browser.value("document.body.dataset.render") == shown
    frames = browser.value(FRAMES)
    assert all(f and "My Newsletter" in f["text"] for f in frames)

    edit(newsletter / "config.toml", f'language = "{hostile}"', 'language = "en"')
    browser.until('document.getElementById("error").hidden', bool, "fixing the error")
    assert browser.value("document.body.dataset.render") != shown


def test_it_answers_for_its_own_address_only_and_refreshes_on_a_header(served):
    with httpx.Client(base_url=served, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        # A DNS name rebound to 127.0.0.1 brings its own Host: refused.
        assert client.get("/status", headers={"Host": "attacker.example"}).status_code == 421
        status = client.get("/status").json()
        for _ in range(5):  # the first render is made in the worker
            if status["render"] is not None and not status["busy"]:
                break
            status = client.get("/status", params={"after": status["version"]},
                                timeout=30).json()
        assert status["render"] is not None, status["error"]
        render = status["render"]["id"]
        email = client.get(f"/issue/{render}/email.html")
        assert email.status_code == 200
        assert "sandbox" in email.headers["content-security-policy"]
        assert "script-src" not in email.headers["content-security-policy"]  # none at all
        assert client.get(f"/issue/{render}/local/../../config.toml").status_code == 404
        assert client.post("/refresh").status_code == 403  # a cross-site form cannot
        assert client.post("/refresh", headers={"X-Digest-Preview": "1"}).status_code == 202
        fetched = client.get("/status", params={"after": status["version"]},
                             timeout=30).json()
        assert fetched["version"] > status["version"]
