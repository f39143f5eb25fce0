"""What a red team's own feeds in real outlets' shapes found after issue 16's first pass
(invented text): a thumbnail chosen over a large rendition, a date in 2099 leading,
paid content and labels as kickers, debris the trailer table missed, text escaped
twice, invisible headlines, links made from guids, captions as excerpts, exclude rules
that matched less than require, and over-eager " - Outlet" stripping."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest

from digest.collect.language import detect
from digest.collect.parse import kicker, parse_feed
from digest.config.load import load_config
from digest.config.schema import FeedConfig
from digest.curate.place import NothingToBuild, curate_issue
from digest.models import Article

NOW = datetime(2026, 11, 30, 8, tzinfo=UTC)
URL = "https://feeds.example/redteam.xml"
MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/"'
CONTENT = 'xmlns:content="http://purl.org/rss/1.0/modules/content/"'


def rss(items: str, channel: str = "<title>Northwind News</title>") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" {MEDIA} {CONTENT}>'
            f"<channel>{channel}<link>https://nnn.example/</link>{items}</channel></rss>"
            ).encode()


def item(title: str, extra: str = "", *, link: str | None = None,
         date: str = "Mon, 30 Nov 2026 07:00:00 GMT",
         description: str | None = "The council said the work would start in the spring "
                                   "and take two years, at a cost of about 40 million.") -> str:
    link = f"https://nnn.example/{abs(hash(title)) % 10**8}" if link is None else link
    parts = [f"<title>{title}</title>" if title is not None else ""]
    if link:
        parts.append(f"<link>{link}</link>")
    if date:
        parts.append(f"<pubDate>{date}</pubDate>")
    if description is not None:
        parts.append(f"<description>{description}</description>")
    return "<item>" + "".join(parts) + extra + "</item>"


def parse(data: bytes, name: str = "Northwind News") -> list[Article]:
    with mock.patch.dict(os.environ, {"DIGEST_NOW": NOW.isoformat()}):
        articles = parse_feed(data, FeedConfig(url=URL, name=name), URL)
    return [replace(a, first_seen=NOW) for a in articles]


def one(items: str, **kw) -> Article:
    [article] = parse(rss(items, **kw))
    return article


# --- pictures ------------------------------------------------------------------------

@pytest.mark.parametrize(("media", "chosen"), [
    # A measured 1024 beside a thumbnail that gives no size: the thumbnail is small.
    ('<media:content url="https://img.example/w1024.jpg" medium="image" width="1024"/>'
     '<media:thumbnail url="https://img.example/thumb.jpg"/>', "w1024.jpg"),
    # An enclosure gives no width; a declared 800 fills the 600 px slot.
    ('<enclosure url="https://img.example/enc.jpg" type="image/jpeg" length="0"/>'
     '<media:content url="https://img.example/w800.jpg" medium="image" width="800"/>',
     "w800.jpg"),
    # Only undeclared renditions, one a thumbnail: the other one.
    ('<media:thumbnail url="https://img.example/thumb.jpg"/>'
     '<enclosure url="https://img.example/enc.jpg" type="image/jpeg" length="0"/>', "enc.jpg"),
    # A video's still, nested in its media:content.
    ('<media:content url="https://video.example/v.mp4" type="video/mp4" width="1920">'
     '<media:thumbnail url="https://img.example/still.jpg" width="1200" height="675"/>'
     "</media:content>", "still.jpg"),
])
def test_the_rendition_that_fills_the_slot_is_chosen(media, chosen):
    article = one(item("Storm cuts power to homes along the northern coast", media))
    assert article.image and article.image.url.endswith(chosen), article.image


def test_an_undeclared_first_img_does_not_hide_a_declared_photo():
    body = ('<content:encoded><![CDATA[<p><img src="https://track.example/p.jpg" alt=""></p>'
            "<p>A team of students has spent two years building a car that runs on sunlight "
            'alone.</p><p><img src="https://img.example/car_1600.jpg" width="1600" height="900" '
            'alt="The solar car"></p>]]></content:encoded>')
    article = one(item("Students build solar car for desert race", body, description=None))
    assert article.image and article.image.url.endswith("car_1600.jpg")


def test_a_caption_with_no_description_is_the_pictures_caption_only():
    media = ('<media:content url="https://img.example/c_1600.jpg" medium="image" width="1600">'
             '<media:description type="html">&lt;p&gt;The cottage at Gull Point, photographed '
             "in October.&lt;/p&gt;</media:description></media:content>")
    article = one(item("Lighthouse keeper's cottage sold at auction", media, description=None))
    assert article.summary == ""
    assert article.image and article.image.caption.startswith("The cottage at Gull Point")


def test_a_caption_beside_a_description_is_never_the_body():
    # feedparser files the media:description as the entry's content: the big story's
    # paragraphs would be the caption.
    media = ('<media:content url="https://img.example/h_460.jpg" medium="image" width="460">'
             "<media:description>Photo caption of the harbour.</media:description>"
             "</media:content>")
    article = one(item("Harbour reopens after repairs", media))
    assert "Photo caption" not in article.body_html
    assert article.body_html.startswith("The council said the work would start")
    assert article.image and article.image.caption == "Photo caption of the harbour."


# --- dates ----------------------------------------------------------------------------

def test_a_date_in_2099_is_not_believed():
    article = one(item("Town hall to host New Year concert", date="Thu, 31 Dec 2099 20:00:00 GMT"))
    assert article.undated


# --- headlines, links --------------------------------------------------------------

def test_items_without_a_headline_or_a_web_link_are_never_placed(tmp_path: Path):
    items = "".join([
        item(None, description="Only a body, no title at all, about the harbour works."),
        item("\u200b\u200b\u200b"),
        item("\ufeffHarbour reopens after repairs\u200b"),
        "<item><title>Guid is no address</title><guid>odd-2</guid>"
        "<description>The ferry operator said the winter timetable starts on Monday.</description>"
        "</item>",
    ])
    articles = parse(rss(items))
    by_title = {a.title: a for a in articles}
    assert "Harbour reopens after repairs" in by_title  # the invisible marks are gone
    assert by_title["Guid is no address"].url == ""
    config = load_config(_config(tmp_path))
    issue = curate_issue(articles, config, 1, NOW)
    assert not isinstance(issue, NothingToBuild)
    placed = {a.title for a in issue.placed}
    assert placed == {"Harbour reopens after repairs"}
    reasons = {d.reason for d in issue.decisions if d.section == "excluded"}
    assert reasons == {"no headline", "no http(s) link to send readers to"}


# --- kickers and paid content ------------------------------------------------------

@pytest.mark.parametrize(("term", "scheme"), [
    ("Sponsored", ""), ("Advertisement feature", ""), ("Paid Post", ""), ("BREAKING", ""),
    ("Live", ""), ("Olan Marwick", "https://www.paper.example/profile/olan-marwick"),
])
def test_labels_and_people_are_never_kickers(term, scheme):
    assert kicker(((term, scheme),), "World") == "World"


def test_paid_content_is_left_out(tmp_path: Path):
    items = "".join([
        item("Kicker test: harbour board names new chair", "<category>Partner Content</category>"),
        item("Sponsored: Five ways to warm your home this winter"),
        item("[Anzeige] Die besten Winterjacken im Test"),
        item("Port authority reviews crane safety rules after collapse",
             "<category>Business</category>"),
    ])
    config = load_config(_config(tmp_path))
    issue = curate_issue(parse(rss(items)), config, 1, NOW)
    assert not isinstance(issue, NothingToBuild)
    assert [a.title for a in issue.placed] == [
        "Port authority reviews crane safety rules after collapse"]
    paid = sorted(d.reason for d in issue.decisions if d.reason.startswith("paid content"))
    assert paid == ["paid content (marked 'Anzeige')", "paid content (marked 'Partner Content')",
                    "paid content (marked 'Sponsored')"]


# --- text -----------------------------------------------------------------------------

@pytest.mark.parametrize("trailer", [
    '<p><a href="https://r.example/x" class="more-link">Continue reading<span '
    'class="screen-reader-text"> "Council approves new river crossing"</span></a></p>',
    '<p>This article <a href="https://r.example/x">Council approves new river crossing</a> '
    'first appeared on <a href="https://r.example">Kestrel Valley Review</a>.</p>',
    "<p>Read the full story at Kestrel Valley Review</p>",
    "<p>Click here to read more.</p>",
    '&hellip; <a href="https://r.example/x">more</a>',
    "<p>Subscribe to our newsletter for more local news!</p>",
    '<p>Source: <a href="https://other.example/x">Valley Echo</a></p>',
    '<p>The post <a href="https://r.example/x">Council approves new river crossing</a> appeared '
    'first on <a href="https://r.example">Kestrel Valley Review</a>.</p><p>Related posts:</p>'
    '<ol><li><a href="https://r.example/a">Bus timetable changes</a></li></ol>',
])
def test_trailers_leave_the_excerpt(trailer):
    text = "<p>The valley council voted seven to two on Sunday night to fund a new bridge.</p>"
    article = one(item("Council approves new river crossing",
                       description=f"<![CDATA[{text}{trailer}]]>"))
    assert article.summary == ("The valley council voted seven to two on Sunday night to "
                               "fund a new bridge."), article.summary


def test_text_escaped_twice_reads_once_and_sentences_in_spans_keep_their_space():
    article = one(item("Diner reopens on Main Street", description=(
        "<![CDATA[<p>The owners of Tom &amp;amp; Jerry&amp;#8217;s said the work took eleven "
        "months.</p><span>Forty seats are open.</span><span>More will follow.</span>]]>")))
    assert article.summary == ("The owners of Tom & Jerry\u2019s said the work took eleven "
                               "months. Forty seats are open. More will follow.")


@pytest.mark.parametrize(("title", "source", "shown"), [
    ("Factory output rises for third month - Meridian poll", "", 
     "Factory output rises for third month - Meridian poll"),
    ("Dockworkers walk out at Port Lira - Meridian Wire via Yahoo Finance",
     '<source url="https://meridianwire.example/rss">Meridian Wire</source>',
     "Dockworkers walk out at Port Lira"),
    ("Port strike enters second day - quayside.example",
     '<source url="https://www.quayside.example/">Quayside Times</source>',
     "Port strike enters second day"),
])
def test_an_outlet_suffix_goes_only_when_it_names_the_outlet(title, source, shown):
    article = one(item(title, source), channel="<title>Meridian</title>")
    assert article.title == shown


def test_languages_beyond_the_western_european_ones_are_told():
    samples = {
        "id": "Pemerintah daerah mengatakan bahwa jalan yang rusak akan diperbaiki dalam "
              "waktu dekat oleh dinas pekerjaan umum",
        "pl": "Rząd ogłosił, że nowe przepisy wejdą w życie od stycznia i nie będą dotyczyć "
              "małych firm przez pierwszy rok",
        "tr": "Belediye yeni park için çok daha fazla bütçe ayıracak ve park bu yıl sonra "
              "açılacak",
        "vi": "Chính phủ cho biết các dự án của thành phố sẽ được hoàn thành trong năm nay",
        "sv": "Regeringen säger att det nya förslaget kommer att läggas fram för riksdagen "
              "efter jul",
        "en": "I think a man in a van is on to a plan to go to the city by boat in a day",
    }
    assert {lang: detect(text) for lang, text in samples.items()} == {
        lang: lang for lang in samples}


# --- exclude, and why nothing is left --------------------------------------------

def test_exclude_matches_as_require_does(tmp_path: Path):
    items = "".join([
        item("Tariffs on U.S. steel rise again"),
        item("Zu\u0308rich bank cuts jobs"),  # decomposed ü
        item("Shop the best winter coats", "<category>Sponsor Picks</category>"),
        item("Harbour crane collapses, no one hurt",
             link="https://NNN.example/2026/11/30/crane?utm_source=rss"),
        item("Museum returns carved panels to island community"),
    ])
    exclude = ('exclude = ["U.S.", "Zürich", "sponsor picks", '
               '"http://nnn.example/2026/11/30/crane/"]')
    config = load_config(_config(tmp_path, editor=exclude))
    issue = curate_issue(parse(rss(items)), config, 1, NOW)
    assert not isinstance(issue, NothingToBuild)
    assert [a.title for a in issue.placed] == ["Museum returns carved panels to island community"]
    assert sum(d.section == "excluded" for d in issue.decisions) == 4


def test_nothing_left_to_place_says_what_left_it_out(tmp_path: Path):
    items = item("Harbour crane collapses") + item("Ferry fares rise in spring")
    config = load_config(_config(tmp_path, editor='require = ["café"]'))
    issue = curate_issue(parse(rss(items)), config, 1, NOW)
    assert isinstance(issue, NothingToBuild)
    assert issue.reason == ("2 new article(s), none left to place (off_topic 2); see [editor] "
                            "in the config; no issue built")


def _config(folder: Path, editor: str = "") -> Path:
    path = folder / "config.toml"
    path.write_text(
        '[newsletter]\nname = "Red Team Weekly"\n'
        f"[editor]\nmax_age_days = 0\n{editor}\n"
        "[schedule]\nmin_new_items = 1\n[layout]\nbig_story = 1\nneed_to_know = 3\nread_more = 6\n"
        '[delivery]\nmode = "outbox"\nrecipients = ["reader@example.com"]\n'
        'unsubscribe_mailto = "unsubscribe@example.com"\n'
        f'[[feeds]]\nurl = "{URL}"\nname = "Northwind News"\n', "utf-8")
    return path
