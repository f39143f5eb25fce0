"""Enrichment (issue 11, item 1): from a summary-only feed, the issue's big story gets
the article page's photo with caption and "Photographer | Agency" credit and keeps the
page's subheads; the cards get pictures. Pages are served by a real HTTP server on
127.0.0.1, in the shapes news sites use (og meta, figure/figcaption with credit spans,
subheads, lists)."""

from __future__ import annotations

import json
from pathlib import Path

import lxml.html
import pytest

from digest.enrich.pages import extract
from tests.helpers import (
    BASE_CONFIG,
    NOW_UTC,
    NOW_UTC_ENV,
    SAMPLES,
    FeedServer,
    Route,
    config_with,
    run,
)

PICTURES = ["solar-wind", "port-cranes", "factory", "microchip", "cargo-ship", "skyline-dusk",
            "stock-chart", "yuan-notes", "soybean-field", "high-speed-train"]


def page(i: int, base: str) -> str:
    picture = PICTURES[i % len(PICTURES)]
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Story {i} | Lantern Global</title>
<meta property="og:title" content="Story {i}">
<meta property="og:image" content="{base}/img/{picture}.jpg">
<meta property="og:image:alt" content="Picture for story {i}">
<meta name="author" content="Reporter {i}">
<meta property="article:published_time" content="2026-11-2{i % 9}T09:00:00+08:00">
</head><body><header><nav><a href="/">Home</a> <a href="/markets">Markets</a></nav></header>
<main><article><h1>Story {i} headline</h1><p class="byline">By Reporter {i}</p>
<figure class="lead"><img src="/img/{picture}.jpg" alt="Lead picture {i}">
<figcaption>What the lead picture of story {i} shows.
<span class="photo-credit">Ana Kovac | Harbour Pictures</span></figcaption></figure>
<p>The first paragraph of story {i} says what happened, to whom, and why it matters to
readers who follow the markets closely.</p>
<p>A second paragraph adds the numbers: orders rose for a third month, and prices held.</p>
<h2>Perfect timing?</h2>
<p>Analysts said the timing was no accident, with inventories worked down all year.</p>
<ul><li>Orders: up for a third month</li><li>Prices: steady</li></ul>
<figure><img src="/img/ev-charging.jpg" alt="Cars charging">
<figcaption>Charging points near Lyon. <cite>Marc Duval | Lantern Global</cite></figcaption>
</figure>
<p>The industry group expects output to grow again next year, it said on Friday.</p>
</article></main><footer><p>© 2026 Lantern Global. Subscribe to our newsletter.</p></footer>
</body></html>"""


def summary_only_feed(base: str, count: int) -> bytes:
    items = "".join(
        f"<item><title>Story {i} headline</title><link>{base}/articles/{i}.html</link>"
        f"<guid>s{i}</guid><pubDate>{28 - i} Nov 2026 08:00:00 +0000</pubDate>"
        f"<description>Story {i} headline</description></item>" for i in range(count))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
            f"<link>{base}/</link>{items}</channel></rss>").encode()


@pytest.fixture
def site(feed_server: FeedServer, tmp_path: Path) -> FeedServer:
    base = feed_server.base
    feed_server.routes["/feed.xml"] = Route(summary_only_feed(base, 12))
    for i in range(12):
        feed_server.routes[f"/articles/{i}.html"] = Route(
            page(i, base).encode(), content_type="text/html; charset=utf-8", etag=f'"p{i}"')
    for name in [*PICTURES, "ev-charging"]:
        feed_server.routes[f"/img/{name}.jpg"] = Route(
            (SAMPLES / "images" / f"{name}.jpg").read_bytes(), content_type="image/jpeg")
    return feed_server


def build(tmp_path: Path, server: FeedServer, *args: str, extra: str = "") -> dict:
    base = BASE_CONFIG.replace('pages = "never"', 'pages = "missing"')
    config = config_with(tmp_path, [{"url": server.url("/feed.xml"), "name": "Wire"}], extra,
                         base=base)
    result = run(config, "build", *args, env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "outbox" / "preview" if "--preview" in args else next(
        (tmp_path / "outbox").glob("*-1"))
    return {"folder": folder, "output": result.output,
            "manifest": json.loads((folder / "issue.json").read_text("utf-8")),
            "html": (folder / "email.html").read_text("utf-8")}


def test_a_summary_only_feed_makes_a_real_issue(site: FeedServer, tmp_path: Path) -> None:
    built = build(tmp_path, site, "--preview")
    doc = lxml.html.fromstring(built["html"])
    big = built["manifest"]["sections"]["big_story"][0]
    assert big["url"].endswith("/articles/0.html")
    imgs = [i for i in doc.iter("img") if i.get("src")]
    # The big story's photo, with its caption and credit from the page.
    assert any(i.get("src").endswith("solar-wind.jpg") for i in imgs)
    assert "What the lead picture of story 0 shows." in built["html"]
    assert "Ana Kovac | Harbour Pictures" in built["html"]
    # The page's structure: a subhead, a list, an inline photo with its credit.
    assert [h.text_content() for h in doc.iter("h4")] == ["Perfect timing?"]
    assert "Orders: up for a third month" in built["html"]
    assert "Marc Duval | Lantern Global" in built["html"]
    assert "Story 0 headline" not in [h.text_content() for h in doc.iter("h4")]
    assert "Home" not in built["html"] and "Subscribe to our newsletter" not in built["html"]
    # Cards have pictures, and summaries from the pages instead of the title again.
    cards = built["manifest"]["sections"]["read_more"]
    assert len(cards) == 6
    card_pictures = [i for i in imgs if "card-image" in (i.getparent().getparent().get("class")
                                                         or "") or i.get("width") == "258"]
    assert len(card_pictures) == 6
    assert "The first paragraph of story" in built["html"]
    # The text part has the structure too.
    text = (built["folder"] / "email.txt").read_text("utf-8")
    assert "PERFECT TIMING?" in text and "[Ana Kovac | Harbour Pictures]" in text


def test_pages_are_kept_and_then_asked_for_conditionally(site: FeedServer,
                                                        tmp_path: Path) -> None:
    from dataclasses import replace

    from digest.config.load import load_config
    from digest.enrich.pages import Enricher
    from digest.state.cache import open_cache

    built = build(tmp_path, site)  # the issue: its pages read once each, and kept
    assert len(site.hits("/articles/0.html")) == 1
    config = load_config(tmp_path / "config.toml")
    store = open_cache(config.state_path)  # the fetch cache beside the state database
    try:
        assert store.cached_page(site.url("/articles/0.html")) is not None
        enricher = Enricher(config, cached=store.cached_page)
        big = built["manifest"]["sections"]["big_story"][0]
        from digest.models import Article, CuratedIssue

        story = Article(id="x", feed_url=site.url("/feed.xml"), feed_name="Wire",
                        url=big["url"], title="Story 0 headline", summary="", body_html="")
        issue = CuratedIssue(2, NOW_UTC, story, (), (), (), ())
        enriched, notes = enricher.enrich(replace(issue))
    finally:
        store.close()
    hits = site.hits("/articles/0.html")
    assert len(hits) == 2 and hits[-1].get("If-None-Match") == '"p0"'  # answered 304
    assert notes == []
    assert enriched.big_story.image.url.endswith("/img/solar-wind.jpg")  # from the cache
    assert enriched.big_story.image.credit == "Ana Kovac | Harbour Pictures"


def test_a_page_that_fails_leaves_the_story_and_is_noted(site: FeedServer,
                                                         tmp_path: Path) -> None:
    del site.routes["/articles/0.html"]
    built = build(tmp_path, site, "--preview")
    note = " ".join(n for n in built["manifest"]["notes"] if "articles/0.html" in n)
    assert "HTTP 404" in note or "404" in note
    assert "keeps its feed's text and picture" in note
    placed = [s["url"] for k in ("big_story", "need_to_know", "read_more")
              for s in built["manifest"]["sections"][k]]
    assert any(url.endswith("/articles/0.html") for url in placed)  # as its feed gave it


def test_never_reads_no_page(site: FeedServer, tmp_path: Path) -> None:
    config_with(tmp_path, [{"url": site.url("/feed.xml"), "name": "Wire"}])  # pages = "never"
    result = run(tmp_path / "config.toml", "build", "--preview", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    assert not any(path.startswith("/articles/") for path, _ in site.requests)
    # A feed may ask for its pages all the same.
    config_with(tmp_path, [{"url": site.url("/feed.xml"), "name": "Wire", "enrich": "always"}])
    result = run(tmp_path / "config.toml", "build", "--preview", env=NOW_UTC_ENV)
    assert result.exit_code == 0, result.output
    assert any(path.startswith("/articles/") for path, _ in site.requests)


def test_extract_names_the_credit_in_each_shape() -> None:
    shapes = {
        '<span class="credit">Jo Li | Agency</span>': "Jo Li | Agency",
        "<cite>Jo Li | Agency</cite>": "Jo Li | Agency",
        "<small>Jo Li/Agency</small>": "Jo Li/Agency",
        "Jo Li | Agency": "Jo Li | Agency",
    }
    for markup, credit in shapes.items():
        html = (f'<html><head><meta property="og:image" content="https://x.example/a.jpg">'
                f'</head><body><article><figure><img src="https://x.example/a.jpg">'
                f"<figcaption>The caption. {markup}</figcaption></figure>"
                f"<p>{'Some words of text. ' * 20}</p></article></body></html>")
        facts = extract(html, "https://x.example/story")
        assert (facts.caption, facts.credit) == ("The caption.", credit), markup


def test_extract_keeps_no_script_and_no_foreign_scheme() -> None:
    html = ('<html><head><meta property="og:image" content="javascript:alert(1)"></head><body>'
            '<article><p>Text <a href="javascript:alert(1)">x</a> and '
            '<a href="https://ok.example/">ok</a>. ' + "More words here. " * 20 + "</p>"
            "<script>alert(1)</script></article></body></html>")
    facts = extract(html, "https://x.example/story")
    assert facts.image == ""
    assert "javascript" not in facts.body_html and "<script" not in facts.body_html
    assert 'href="https://ok.example/"' in facts.body_html
