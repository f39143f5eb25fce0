"""Generated news feeds for the bench, and the HTTP server that serves them.

    python3 bench/feeds.py serve --feeds 50 --items 20 [--seed 9] [--no-gzip] [--shape outlet]
    python3 bench/feeds.py dump DIR --feeds 3 --items 5      # write the XML to look at

One news beat (energy and climate policy, chosen because it is not the beat of the
bundled samples), a SMALL shared vocabulary and NO figures anywhere in a title: near-
duplicate detection has to work on titles that look alike, not on the numbers in them.
About one item in seven is a wire story that several feeds carry, copied verbatim, with
other punctuation or case, or reworded (a synonym, a qualifier dropped, a prefix).
Each item has 1-3 KB of HTML paragraphs, an author, one or two categories, a date in
the week before BASE_TIME and, most of the time, a media:content picture served by the
same server (/img/<name>.jpg, the bundled sample JPEGs). One feed in four is Atom.
Everything is drawn from random.Random seeded per feed, so a feed's content does not
depend on how many feeds there are, and two runs with the same seed are identical.

`--shape outlet` serves another shape instead (issue 19): every feed RSS, 8-word
titles drawn from 40 words, 120-word bodies in three paragraphs, a 25-word description
and one uncaptioned media:content picture per item, permalink guids; no wire copies.

`serve` runs in its own process (the harness starts it), so serving costs the
measured commands no CPU. It answers conditional GETs: If-None-Match (weak ETag,
one per feed) and, without it, If-Modified-Since against Last-Modified; both give 304.
It gzips when asked (Accept-Encoding), like a real feed host. GET /_stats?reset=1
returns the responses counted since the last reset, as JSON, and resets them. Its
first line on stdout says where it listens and how many distinct stories the items
tell (a wire story counts once, and so does a title repeated by chance up to case and
punctuation): items - stories is how many duplicates a perfect dedupe drops.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "digest" / "samples" / "images"
BASE_TIME = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # newest possible item; DIGEST_NOW is after

# The vocabulary: a few dozen phrases of one beat. Titles are subject + verb + object
# [+ place] [+ qualifier]; there are no digits in any of these lists.
SUBJECTS = ("Regulators", "Utilities", "Grid operators", "Lawmakers", "Oil majors",
            "Energy traders", "Ministers", "Wind developers", "Solar makers", "Refiners",
            "Pipeline operators", "Households", "Investors", "Coal miners",
            "Power producers", "Battery makers", "Gas suppliers", "Climate envoys",
            "Industry groups", "Campaigners", "Nuclear operators", "Heavy industry")
VERBS = ("weigh", "delay", "approve", "push back on", "brace for", "rethink", "back",
         "criticise", "slow", "expand", "cut", "defend", "challenge", "plan", "scrap",
         "fast-track", "review", "question")
SYNONYMS = {"weigh": "consider", "delay": "postpone", "approve": "sign off on",
            "back": "support", "criticise": "attack", "scrap": "drop", "review": "study",
            "cut": "trim", "plan": "prepare", "slow": "pause", "expand": "widen"}
OBJECTS = ("new limits on gas storage", "a windfall tax on power producers",
           "offshore wind auctions", "grid connection queues", "subsidies for heat pumps",
           "nuclear plant extensions", "the carbon price floor", "coal plant closures",
           "pipeline tariffs", "battery storage rules", "solar import duties",
           "hydrogen targets", "refinery upgrades", "power market reform",
           "capacity payments", "long-term LNG contracts", "methane leak rules",
           "interconnector plans", "electric car incentives", "emissions trading reform",
           "onshore wind permits", "household energy bills", "a ban on new gas boilers",
           "cross-border power trade")
PLACES = ("", "", "", " in Spain", " in Norway", " in Texas", " in Poland", " in Japan",
          " in Brazil", " in Germany", " in the Gulf", " in Australia", " in Chile",
          " in India", " across Europe", " in the North Sea", " in California", " in Italy")
QUALIFIERS = ("", "", " as winter nears", " amid price spike", " after court ruling",
              " ahead of climate summit", " despite warnings", " as demand slows",
              " in tense talks", " after outage", " under pressure from industry",
              " as prices ease", " after storm damage", " before election")
PREFIXES = ("Update: ", "Analysis: ", "Exclusive: ", "Explainer: ")
CATEGORIES = ("Energy", "Climate", "Markets", "Policy", "Power", "Oil & Gas", "Renewables",
              "Regulation")
FIRST = ("Ana", "Ben", "Chloe", "Dmitri", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Kemi", "Lars", "Maya", "Nadia", "Omar", "Priya", "Rosa", "Sven", "Tariq", "Yuki")
LAST = ("Alvarez", "Brandt", "Costa", "Dubois", "Eriksen", "Fischer", "Gupta", "Haddad",
        "Ito", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
        "Quinn", "Rossi", "Silva", "Tanaka")
ROLES = ("an analyst at", "a spokesperson for", "the chief economist of", "a director at",
         "a senior official at", "a trader at", "a researcher at")
ORGS = ("the national grid regulator", "a large utility", "an industry association",
        "a consumer group", "a commodities house", "a climate think tank",
        "the energy ministry", "a regional power exchange")
LINKERS = ("Meanwhile,", "Still,", "At the same time,", "In a statement,", "Critics say",
           "Supporters argue", "Analysts note", "Officials said")
CAPTIONS = ("Wind turbines off the coast at dusk", "A gas storage site seen from the air",
            "Workers at a solar farm", "A control room at a grid operator",
            "Pylons carry power across farmland", "A tanker at an import terminal",
            "Cooling towers of a power station", "Protesters outside a ministry")
AGENCIES = ("Wire Photo", "Staff", "Pool", "Handout")


def images() -> dict[str, bytes]:
    """The pictures /img/ serves: the bundled sample JPEGs, or one small stand-in."""
    found = {p.stem: p.read_bytes() for p in sorted(IMAGES.glob("*.jpg"))}
    return found or {"placeholder": b"\xff\xd8\xff\xd9"}


def _title(rng: random.Random) -> str:
    return (f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
            f"{rng.choice(PLACES)}{rng.choice(QUALIFIERS)}")


def _variant(title: str, rng: random.Random) -> str:
    """A wire story as another outlet runs it."""
    kind = rng.randrange(6)
    if kind == 0:
        return title
    if kind == 1:  # punctuation and case only
        swapped = title.replace(" as ", ", as ").replace(" after ", " - after ")
        return swapped if swapped != title else title.upper()[:1] + title[1:] + "."
    if kind == 2:
        return title.title()
    if kind == 3:  # a synonym
        for word, other in SYNONYMS.items():
            if f" {word} " in title:
                return title.replace(f" {word} ", f" {other} ", 1)
        return title + "?"
    if kind == 4:  # qualifier dropped
        for q in QUALIFIERS[2:]:
            if title.endswith(q):
                return title[: -len(q)]
        return title + rng.choice(QUALIFIERS[2:])
    return rng.choice(PREFIXES) + title


def _sentence(rng: random.Random) -> str:
    s = rng.random()
    if s < 0.4:
        return f"{_title(rng)}."
    if s < 0.7:
        return (f"\u201c{rng.choice(SUBJECTS)} will {rng.choice(VERBS)} "
                f"{rng.choice(OBJECTS)},\u201d said {rng.choice(FIRST)} {rng.choice(LAST)}, "
                f"{rng.choice(ROLES)} {rng.choice(ORGS)}.")
    return (f"{rng.choice(LINKERS)} {rng.choice(SUBJECTS).lower()} "
            f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(QUALIFIERS)}.")


def _body(rng: random.Random) -> tuple[str, str]:
    """(summary, HTML body of 1-3 KB)."""
    target = rng.randint(900, 2600)
    paragraphs: list[str] = []
    size = 0
    while size < target:
        para = " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.1:
            para = f"<strong>{escape(para)}</strong>"
            paragraphs.append(f"<p>{para}</p>")
        else:
            paragraphs.append(f"<p>{escape(para)}</p>")
        size += len(paragraphs[-1])
    summary = paragraphs[0][3:-4].removeprefix("<strong>").removesuffix("</strong>")
    return summary, "\n".join(paragraphs)


@dataclass(frozen=True)
class Item:
    title: str
    link: str
    guid: str
    when: datetime
    author: str
    categories: tuple[str, ...]
    summary: str  # already escaped HTML text
    body: str  # HTML
    image: str | None
    caption: str
    credit: str
    wire: int | None = None  # index of the wire story this item copies


def wire_pool(seed: int, size: int) -> list[str]:
    rng = random.Random(f"{seed}:wire")
    return [_title(rng) for _ in range(size)]


def feed_items(feed: int, items: int, seed: int, wire: list[str], base: str,
               pictures: list[str]) -> list[Item]:
    rng = random.Random(f"{seed}:feed:{feed}")
    out = []
    for i in range(items):
        story = None
        if wire and rng.random() < 0.15:
            story = rng.randrange(len(wire))
            title = _variant(wire[story], rng)
        else:
            title = _title(rng)
        summary, body = _body(rng)
        when = BASE_TIME - timedelta(seconds=rng.randrange(7 * 86400))
        has_image = rng.random() < 0.85
        out.append(Item(
            title=title, link=f"https://outlet-{feed}.example.com/news/{feed}-{i}",
            guid=f"outlet-{feed}-story-{i}", when=when,
            author=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            categories=tuple(rng.sample(CATEGORIES, rng.randint(1, 2))),
            summary=summary, body=body,
            image=f"{base}/img/{rng.choice(pictures)}.jpg" if has_image else None,
            caption=rng.choice(CAPTIONS), credit=f"{rng.choice(FIRST)} {rng.choice(LAST)} | "
                                                  f"{rng.choice(AGENCIES)}", wire=story))
    out.sort(key=lambda it: it.when, reverse=True)  # newest first, as feeds are
    return out


def _media(item: Item) -> str:
    if not item.image:
        return ""
    return (f'<media:content url={quoteattr(item.image)} medium="image" type="image/jpeg" '
            f'width="1200" height="800"><media:description>{escape(item.caption)}'
            f"</media:description><media:credit>{escape(item.credit)}</media:credit>"
            f"</media:content>")


NS = ('xmlns:media="http://search.yahoo.com/mrss/" '
      'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/"')


def rss(feed: int, items: list[Item]) -> str:
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" {NS}><channel>'
             f"<title>Outlet {feed} Energy Desk</title>"
             f"<link>https://outlet-{feed}.example.com/</link>"
             f"<description>Energy and climate news from outlet {feed}</description>"
             f"<language>en</language>"]
    for it in items:
        cats = "".join(f"<category>{escape(c)}</category>" for c in it.categories)
        parts.append(
            f"<item><title>{escape(it.title)}</title><link>{it.link}</link>"
            f'<guid isPermaLink="false">{it.guid}</guid>'
            f"<pubDate>{format_datetime(it.when, usegmt=True)}</pubDate>"
            f"<dc:creator>{escape(it.author)}</dc:creator>{cats}"
            f"<description>{escape(it.summary)}</description>"
            f"<content:encoded><![CDATA[{it.body}]]></content:encoded>{_media(it)}</item>\n")
    parts.append("</channel></rss>\n")
    return "".join(parts)


def atom(feed: int, items: list[Item]) -> str:
    updated = max((it.when for it in items), default=BASE_TIME).isoformat()
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"'
             f' {NS}><title>Outlet {feed} Energy Desk</title>'
             f'<link href="https://outlet-{feed}.example.com/"/>'
             f"<id>urn:outlet:{feed}</id><updated>{updated}</updated>"]
    for it in items:
        cats = "".join(f"<category term={quoteattr(c)}/>" for c in it.categories)
        parts.append(
            f"<entry><title>{escape(it.title)}</title>"
            f'<link rel="alternate" href="{it.link}"/><id>urn:{it.guid}</id>'
            f"<published>{it.when.isoformat()}</published><updated>{it.when.isoformat()}"
            f"</updated><author><name>{escape(it.author)}</name></author>{cats}"
            f'<summary type="html">{escape(it.summary)}</summary>'
            f'<content type="html">{escape(it.body)}</content>{_media(it)}</entry>\n')
    parts.append("</feed>\n")
    return "".join(parts)


def feed_path(feed: int, shape: str = "beat") -> str:
    return f"/feeds/{feed}.atom" if feed % 4 == 3 and shape == "beat" else f"/feeds/{feed}.xml"


# The "outlet" shape (issue 19): RSS shaped like real outlets' feeds, as the fast
# parser sees them: 8-word titles, 120-word HTML bodies in three paragraphs, a short
# description, one media:content picture each (no caption), permalink guids.
OUTLET_WORDS = ("grid regulators weigh power market reform plan after winter price spike "
                "as utilities brace for demand surge across northern regions while "
                "ministers review offshore wind auctions battery storage targets and "
                "carbon levy rules").split()


def outlet_feed(feed: int, items: int, seed: int) -> tuple[bytes, list[str]]:
    """One outlet-shaped feed and its titles (newest first, dated in the week before
    BASE_TIME)."""
    rng = random.Random(f"{seed}:outlet:{feed}")
    entries, titles = [], []
    for i in range(items):
        title = " ".join(rng.choice(OUTLET_WORDS) for _ in range(8)).capitalize()
        words = [rng.choice(OUTLET_WORDS) for _ in range(120)]
        body = "".join(f"<p>{' '.join(words[k:k + 40])}.</p>" for k in (0, 40, 80))
        when = BASE_TIME - timedelta(seconds=(i * 7 * 86400) // max(1, items)
                                     + rng.randrange(3600))
        link = f"https://outlet{feed}.example/news/{feed}-{i}.html"
        titles.append(title)
        entries.append(
            f"<item><title>{title}</title><link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid>'
            f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
            f"<description><![CDATA[{' '.join(words[:25])}.]]></description>"
            f"<content:encoded><![CDATA[{body}]]></content:encoded>"
            f'<media:content url="https://pictures.example/o{feed}/{i}_1200x675.jpg" '
            f'medium="image" width="1200" height="675"/></item>\n')
    data = ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
            'xmlns:media="http://search.yahoo.com/mrss/" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>Outlet {feed}</title><link>https://outlet{feed}.example/</link>"
            f"<description>news</description>{''.join(entries)}</channel></rss>\n").encode()
    return data, titles


def generate(feeds: int, items: int, seed: int, base: str,
             stories: set[tuple[str, str]] | None = None, shape: str = "beat"
             ) -> dict[str, bytes]:
    """path -> XML bytes for every feed. `stories` collects one key per distinct story:
    a wire story's index, or else the title in lower case without punctuation."""
    if shape == "outlet":
        out = {}
        for f in range(feeds):
            data, titles = outlet_feed(f, items, seed)
            if stories is not None:
                stories.update(("title", " ".join(re.findall(r"\w+", t.lower())))
                               for t in titles)
            out[feed_path(f, shape)] = data
        return out
    pictures = list(images())
    wire = wire_pool(seed, max(10, feeds * items // 40))
    out = {}
    for f in range(feeds):
        its = feed_items(f, items, seed, wire, base, pictures)
        if stories is not None:
            stories.update(("wire", str(it.wire)) if it.wire is not None
                           else ("title", " ".join(re.findall(r"\w+", it.title.lower())))
                           for it in its)
        out[feed_path(f)] = (atom(f, its) if f % 4 == 3 else rss(f, its)).encode()
    return out


@dataclass(frozen=True)
class Body:
    raw: bytes
    gz: bytes
    etag: str
    modified: datetime


class _Server(ThreadingHTTPServer):
    """A listen backlog of 5 (socketserver's default, fixed when the socket is bound)
    drops the SYNs of a client opening 20 connections at once, and each retry waits a
    second: set before binding, as a class attribute."""

    daemon_threads = True
    request_queue_size = 1024


def serve(args: argparse.Namespace) -> None:
    server = _Server(("127.0.0.1", args.port), None)  # type: ignore[arg-type]
    base = f"http://127.0.0.1:{server.server_address[1]}"
    stories: set[tuple[str, str]] = set()
    xml = generate(args.feeds, args.items, args.seed, base, stories, args.shape)
    bodies = {}
    for i, (path, raw) in enumerate(xml.items()):
        gz = gzip.compress(raw, compresslevel=6, mtime=0) if not args.no_gzip else raw
        etag = 'W/"' + hashlib.sha1(raw).hexdigest()[:20] + '"'
        bodies[path] = Body(raw, gz, etag, BASE_TIME - timedelta(minutes=i % 600))
    pictures = images()
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def count(key: str, n: int = 1) -> None:
        with lock:
            counts[key] = counts.get(key, 0) + n

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm on, a client
        # reusing the connection waits for its delayed ACK (40 ms) on every response.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path == "/_stats":
                with lock:
                    data = json.dumps(counts).encode()
                    if "reset" in parse_qs(url.query):
                        counts.clear()
                return self._send(200, data, "application/json")
            if url.path.startswith("/img/"):
                picture = pictures.get(url.path[5:].removesuffix(".jpg"))
                count("img")
                if picture is None:
                    return self._send(404, b"", "text/plain")
                return self._send(200, picture, "image/jpeg")
            body = bodies.get(url.path)
            if body is None:
                count("404")
                return self._send(404, b"", "text/plain")
            headers = {"ETag": body.etag,
                       "Last-Modified": format_datetime(body.modified, usegmt=True),
                       "Cache-Control": "max-age=0", "Vary": "Accept-Encoding"}
            if self._not_modified(body):
                count("304")
                return self._send(304, b"", None, headers)
            count("200")
            if "gzip" in self.headers.get("Accept-Encoding", "") and not args.no_gzip:
                headers["Content-Encoding"] = "gzip"
                payload = body.gz
            else:
                payload = body.raw
            count("bytes", len(payload))
            ctype = ("application/atom+xml" if url.path.endswith(".atom")
                     else "application/rss+xml")
            self._send(200, payload, f"{ctype}; charset=utf-8", headers)

        def _not_modified(self, body: Body) -> bool:
            tags = self.headers.get("If-None-Match")
            if tags is not None:  # RFC 9110: If-Modified-Since is ignored when this is sent
                seen = {t.strip().removeprefix("W/") for t in tags.split(",")}
                return "*" in seen or body.etag.removeprefix("W/") in seen
            since = self.headers.get("If-Modified-Since")
            if since:
                try:
                    return parsedate_to_datetime(since) >= body.modified
                except (TypeError, ValueError):
                    return False
            return False

        def _send(self, status: int, data: bytes, ctype: str | None,
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if ctype:
                self.send_header("Content-Type", ctype)
            if status != 304:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if status != 304:
                self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    print(json.dumps({"base": base, "feeds": list(bodies),
                      "xml_bytes": sum(len(b.raw) for b in bodies.values()),
                      "gz_bytes": sum(len(b.gz) for b in bodies.values()),
                      "items": args.feeds * args.items, "stories": len(stories)}), flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


def dump(args: argparse.Namespace) -> None:
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    for path, data in generate(args.feeds, args.items, args.seed, "http://127.0.0.1:8000",
                               shape=args.shape).items():
        (folder / path.rsplit("/", 1)[1]).write_bytes(data)
    print(f"wrote {args.feeds} feeds to {folder}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "dump"):
        p = sub.add_parser(name)
        if name == "dump":
            p.add_argument("dir")
        p.add_argument("--feeds", type=int, default=50)
        p.add_argument("--items", type=int, default=20)
        p.add_argument("--seed", type=int, default=9)
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--no-gzip", action="store_true")
        p.add_argument("--shape", choices=("beat", "outlet"), default="beat",
                       help="beat: the news beat above; outlet: issue 19's outlet shape")
    args = parser.parse_args(argv)
    serve(args) if args.command == "serve" else dump(args)


if __name__ == "__main__":
    sys.exit(main())
