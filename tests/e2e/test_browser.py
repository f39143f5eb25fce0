"""Open the built issue in headless Chromium at 600 px and 375 px, in light and in
emulated dark mode, as a reader would.

The feeds and their pictures are served over HTTP from 127.0.0.1; a small harness page
frames the email at each width and reports what the browser laid out. Dark mode is
emulated with the same Chromium switches the screenshots use (digest.render.screenshot).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.render.screenshot import ScreenshotError, chromium_command, find_chromium
from tests.helpers import (
    SAMPLES,
    TEST_SECRET,
    FeedServer,
    config_with,
    run,
)

try:
    CHROMIUM: str | None = find_chromium()
except ScreenshotError:
    CHROMIUM = None
if not CHROMIUM and os.environ.get("DIGEST_REQUIRE_BROWSER"):
    raise RuntimeError("chromium is not installed; scripts/test installs it (apt-get)")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM, reason="chromium not installed")]

HARNESS = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="mail" src="/outbox/preview/email.html" width="WIDTH" height="9000"
        style="border:0"></iframe>
<pre id="result"></pre>
<script>
window.addEventListener("load", () => {
  const doc = document.getElementById("mail").contentDocument;
  const win = doc.defaultView;
  const imgs = [...doc.images].filter(i => i.getBoundingClientRect().width > 0);
  const box = el => { const r = el.getBoundingClientRect();
                      return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  // The colour an element's text is drawn on: the nearest opaque background up the
  // tree, else the canvas (white, or dark where the email opts into a dark scheme).
  const probe = doc.createElement("div");
  probe.style.backgroundColor = "Canvas";
  doc.body.appendChild(probe);
  const canvas = win.getComputedStyle(probe).backgroundColor;
  probe.remove();
  const ground = el => {
    for (let e = el; e; e = e.parentElement) {
      const bg = win.getComputedStyle(e).backgroundColor;
      if (!/^rgba\\(.*, 0\\)$/.test(bg) && bg !== "transparent") return bg;
    }
    return canvas;
  };
  const seen = el => Object.assign(box(el), {color: win.getComputedStyle(el).color,
                                             ground: ground(el)});
  const find = text => [...doc.querySelectorAll("div, td, a, h1, h2, h3, p, span")].filter(
      el => el.children.length === 0 && el.textContent.trim() === text).map(seen);
  const cardHeads = [...doc.querySelectorAll("a")].filter(
      a => a.textContent.trim().startsWith("Read More")).map(box);
  document.getElementById("result").textContent = JSON.stringify({
    dark: win.matchMedia("(prefers-color-scheme: dark)").matches,
    scrollWidth: doc.documentElement.scrollWidth,
    widths: [...doc.images].map(i => ({src: i.src, width: i.getAttribute("width")})),
    images: imgs.map(i => ({src: i.src, alt: i.getAttribute("alt"),
                            ok: i.complete && i.naturalWidth > 0,
                            box: box(i)})),
    labels: Object.fromEntries(["The big story", "Need to know", "Read More", "Coming up",
                                "The China Connection", "Unsubscribe"].map(
                                t => [t, find(t)])),
    cards: cardHeads,
    text: doc.body.innerText,
  });
});
</script></body></html>"""
VIEWS = [(600, "light"), (600, "dark"), (375, "light"), (375, "dark")]


def layout(folder: Path, server: FeedServer, width: int, scheme: str) -> dict:
    name = f"harness-{width}-{scheme}.html"
    (folder / name).write_text(HARNESS.replace("WIDTH", str(width)))
    assert CHROMIUM
    command = chromium_command(CHROMIUM, folder / f".chromium-{width}-{scheme}",
                               window=(width + 40, 2000), dark=scheme == "dark")
    out = subprocess.run([*command, "--disable-quic", "--dump-dom", server.url(f"/{name}")],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    match = re.search(r'<pre id="result">(.*?)</pre>', out, re.S)
    assert match and match.group(1), f"harness produced no result:\n{out[:2000]}"
    return json.loads(html.unescape(match.group(1)))


@pytest.fixture(scope="module")
def served_preview(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FeedServer]]:
    """The sample issue's preview, built once from feeds served over HTTP, and the server
    that serves it with its pictures."""
    folder = tmp_path_factory.mktemp("browser")
    shutil.copytree(SAMPLES, folder / "samples")
    server = FeedServer()
    server.static = folder
    server.thread.start()
    try:
        feeds = [{"url": server.url(f"/samples/feeds/{p.name}"), "name": p.stem.title()}
                 for p in sorted((SAMPLES / "feeds").iterdir())]
        config = config_with(folder, feeds)
        result = run(config, "build", "--preview",
                     env={"DIGEST_NOW": "2026-11-30T08:00:00+08:00", "DIGEST_SECRET": TEST_SECRET})
        assert result.exit_code == 0, result.output
        yield folder, server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def luminance(css: str) -> float:
    """WCAG relative luminance of a CSS rgb()/rgba() colour."""
    channels = [int(float(c)) / 255 for c in re.findall(r"[\d.]+", css)[:3]]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize(("width", "scheme"), VIEWS, ids=[f"{w}px-{s}" for w, s in VIEWS])
def test_issue_in_chromium(served_preview: tuple[Path, FeedServer], width: int, scheme: str):
    page = layout(*served_preview, width, scheme)

    assert page["dark"] is (scheme == "dark"), "prefers-color-scheme was not emulated"
    assert page["scrollWidth"] <= width, f"horizontal scrolling at {width}px"
    for label, boxes in page["labels"].items():
        assert boxes and boxes[0]["h"] > 0, f"{label!r} not visible at {width}px {scheme}"
        ratio = contrast(boxes[0]["color"], boxes[0]["ground"])
        assert ratio >= 3, (f"{label!r} at {width}px {scheme}: {boxes[0]['color']} on "
                            f"{boxes[0]['ground']} (contrast {ratio:.1f}:1, under 3:1)")
    not_numeric = [i for i in page["widths"] if not re.fullmatch(r"\d+", i["width"] or "")]
    assert not not_numeric, f"<img> width attributes that are not pixel counts: {not_numeric}"
    images = page["images"]
    assert len(images) >= 7  # hero + six Read More cards
    assert all(img["ok"] for img in images), [i["src"] for i in images if not i["ok"]]
    # alt="" is allowed: a card picture whose alt would only repeat the title beside it.
    assert all(img["alt"] is not None for img in images), \
        [i["src"] for i in images if i["alt"] is None]
    assert all(img["box"]["x"] >= 0 and img["box"]["x"] + img["box"]["w"] <= width + 1
               for img in images), f"an image overflows at {width}px"
    # Blocks come in the designed order.
    order = [page["labels"][t][0]["y"] for t in
             ("The China Connection", "The big story", "Need to know", "Read More",
              "Coming up", "Unsubscribe")]
    assert order == sorted(order), f"blocks out of order at {width}px"
    assert "Dec. 7: China November trade data" in page["text"]
    assert "Already past" not in page["text"]
    assert "[…]" in page["text"]

    assert images[0]["box"]["w"] == width  # the hero spans the email
    cards = page["cards"]
    assert len(cards) == 6
    if width == 600:  # Read More cards sit two to a row
        assert cards[0]["y"] == cards[1]["y"] and cards[0]["x"] < cards[1]["x"]
    else:  # on a phone they stack, and pictures fill their column like the text
        assert cards[1]["y"] > cards[0]["y"] and cards[0]["x"] == cards[1]["x"]
        assert all(img["box"]["w"] >= 300 for img in images[1:]), images
