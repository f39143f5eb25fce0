"""The real-shape feeds (tests/feeds/real-shapes/) served as a newsroom would see them:
each feed over HTTP from the test's FeedServer, each picture `pictures.example/...
_<W>x<H>.jpg` as a JPEG of exactly that size from the same server."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image as PILImage

from tests.helpers import FeedServer, Route

FOLDER = Path(__file__).resolve().parent / "feeds" / "real-shapes"
PICTURE = re.compile(rb"https://pictures\.example(/[^\"'<>\s]*?_(\d{2,5})x(\d{2,5})\.jpg)")
RELATIVE = re.compile(rb"""src=["']?(/[^"'\s>]*?_(\d{2,5})x(\d{2,5})\.jpg)""")
BASE = re.compile(rb'xml:base="https://[^"]+"')
TYPES = {".xml": "application/rss+xml", ".rdf": "application/rdf+xml",
         ".atom": "application/atom+xml"}
NAMES = {  # file -> (feed name as an editor would write it, weight)
    "broadcaster-bbc.xml": "Northern Broadcasting", "paper-nyt.xml": "The Daily Ledger",
    "paper-guardian.xml": "The Guardian Example", "broadcaster-cnn.xml": "Cable News Example",
    "aggregator-google-news.xml": "News Aggregator", "blog-wordpress.xml": "Trade Blog",
    "newsletter-substack.xml": "Substack Letter", "blog-medium.xml": "Medium Writer",
    "video-youtube.atom": "Video Channel", "cms-bad-dates.xml": "Regional CMS",
    "german-news.xml": "Deutsche Seite", "japanese-daily.rdf": "Japanese Daily",
    "atom-relative.atom": "Harbour Times", "truncated.xml": "Truncated Feed",
    "india-daily.xml": "Indian Daily", "general-undated-shopping.xml": "General Outlet",
    "business-summary-only.xml": "Business Network", "wire-datelines.xml": "Meridian Wire",
}


def jpeg(width: int, height: int) -> bytes:
    """A picture with a frame, so a crop or a stretch shows in a screenshot."""
    im = PILImage.new("RGB", (width, height), (70, 110, 150))
    im.paste((200, 170, 90), (width // 4, height // 4, width * 3 // 4, height * 3 // 4))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=70)
    return out.getvalue()


def serve(server: FeedServer, names: list[str] | None = None) -> list[dict[str, str]]:
    """Serve these fixtures (all by default) and their pictures; the [[feeds]] entries."""
    feeds = []
    for name in names or sorted(NAMES):
        data = (FOLDER / name).read_bytes()
        for match in set(PICTURE.finditer(data)):
            path, width, height = match.group(1).decode(), int(match.group(2)), int(match.group(3))
            if f"/pictures{path}" not in server.routes:
                server.routes[f"/pictures{path}"] = Route(jpeg(width, height),
                                                          content_type="image/jpeg")
        data = data.replace(b"https://pictures.example/", f"{server.base}/pictures/".encode())
        # An Atom feed's relative links and pictures resolve against its xml:base: point
        # that at this server too, so nothing is looked up beyond loopback.
        for match in set(RELATIVE.finditer(data)):
            path, width, height = match.group(1).decode(), int(match.group(2)), int(match.group(3))
            server.routes[f"/base{path}"] = Route(jpeg(width, height), content_type="image/jpeg")
        data = BASE.sub(f'xml:base="{server.base}/base/"'.encode(), data)
        server.routes[f"/feeds/{name}"] = Route(data, content_type=TYPES[Path(name).suffix])
        feeds.append({"url": server.url(f"/feeds/{name}"), "name": NAMES[name]})
    return feeds
