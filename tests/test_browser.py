"""Open the built issue in headless Chromium at 600 px and 375 px, as a reader would.

The feeds and their pictures are served over HTTP from 127.0.0.1; a small harness page
frames the email at each width and reports what the browser laid out.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import main

from .conftest import SAMPLES, FeedServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
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
  const imgs = [...doc.images].filter(i => i.getBoundingClientRect().width > 0);
  const box = el => { const r = el.getBoundingClientRect();
                      return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  const find = text => [...doc.querySelectorAll("div, td, a")].filter(
      el => el.children.length === 0 && el.textContent.trim() === text).map(box);
  const cardHeads = [...doc.querySelectorAll("a")].filter(
      a => a.textContent.trim().startsWith("Read More")).map(box);
  document.getElementById("result").textContent = JSON.stringify({
    scrollWidth: doc.documentElement.scrollWidth,
    images: imgs.map(i => ({src: i.src, alt: i.alt, ok: i.complete && i.naturalWidth > 0,
                            box: box(i)})),
    labels: Object.fromEntries(["The big story", "Need to know", "Read More", "Coming up",
                                "The China Connection", "Unsubscribe"].map(
                                t => [t, find(t)])),
    cards: cardHeads,
    text: doc.body.innerText,
  });
});
</script></body></html>"""


def layout(folder: Path, server: FeedServer, width: int) -> dict:
    (folder / f"harness-{width}.html").write_text(HARNESS.replace("WIDTH", str(width)))
    profile = folder / f".chromium-{width}"
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--window-size={width + 40},2000",
         "--virtual-time-budget=15000", "--dump-dom", server.url(f"/harness-{width}.html")],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    match = re.search(r'<pre id="result">(.*?)</pre>', out, re.S)
    assert match and match.group(1), f"harness produced no result:\n{out[:2000]}"
    import html

    return json.loads(html.unescape(match.group(1)))


@pytest.fixture
def served_preview(tmp_path: Path, feed_server: FeedServer, write_config) -> Path:
    shutil.copytree(SAMPLES, tmp_path / "samples")
    feed_server.static = tmp_path
    feeds = [{"url": feed_server.url(f"/samples/feeds/{p.name}"), "name": p.stem.title()}
             for p in sorted((SAMPLES / "feeds").iterdir())]
    config = write_config(feeds)
    result = CliRunner().invoke(main, ["--config", str(config), "build", "--preview"],
                                env={"DIGEST_NOW": "2026-11-30T08:00:00+08:00"})
    assert result.exit_code == 0, result.output
    return tmp_path


def test_issue_in_chromium_at_600_and_375(served_preview: Path, feed_server: FeedServer):
    wide = layout(served_preview, feed_server, 600)
    narrow = layout(served_preview, feed_server, 375)

    for width, page in ((600, wide), (375, narrow)):
        assert page["scrollWidth"] <= width, f"horizontal scrolling at {width}px"
        for label, boxes in page["labels"].items():
            assert boxes and boxes[0]["h"] > 0, f"{label!r} not visible at {width}px"
        images = page["images"]
        assert len(images) >= 7  # hero + six Read More cards
        assert all(img["ok"] for img in images), [i["src"] for i in images if not i["ok"]]
        assert all(img["alt"] for img in images)
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

    hero = wide["images"][0]["box"]
    assert hero["w"] == 600  # the hero spans the email
    assert narrow["images"][0]["box"]["w"] == 375
    # On a phone card pictures fill their column like the text under them.
    assert all(img["box"]["w"] >= 300 for img in narrow["images"][1:]), narrow["images"]
    # Read More cards sit two to a row at 600 px and stack at 375 px.
    wide_cards, narrow_cards = wide["cards"], narrow["cards"]
    assert len(wide_cards) == 6 and len(narrow_cards) == 6
    assert wide_cards[0]["y"] == wide_cards[1]["y"] and wide_cards[0]["x"] < wide_cards[1]["x"]
    assert narrow_cards[1]["y"] > narrow_cards[0]["y"] and \
        narrow_cards[0]["x"] == narrow_cards[1]["x"]
