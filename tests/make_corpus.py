"""Write tests/corpus/: several hundred small hostile or broken feeds for tests/e2e/test_corpus.py.

    python3 tests/make_corpus.py          # rewrite tests/corpus/ from scratch

Every file is made here, deterministically (no clock, no randomness but a seeded
generator), so the corpus can be regenerated and reviewed as a diff. index.json lists
every file with its category, what it tries and what collect must make of it:

    "expect": "ok"    a feed: collect reports it ok and stores `entries` articles
              "error" not a feed at all: collect reports the feed failed, with a
                      message naming it (not an "unexpected" internal error)
              "any"   broken in a way a lenient parser may or may not recover from
    "text":   strings that must reach the plain-text part when the feed's articles
              are placed (decoding checks: the right characters came out)

Item titles carry a number unique in the corpus, so curate's near-duplicate check
(only titles with the same figures can be one story) never merges two test cases.
"""

from __future__ import annotations

import bz2
import gzip
import json
import random
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

OUT = Path(__file__).resolve().parent / "corpus"
DATE = "Mon, 16 Nov 2026 08:00:00 +0800"
ISO = "2026-11-16T08:00:00+08:00"
NS = ('xmlns:media="http://search.yahoo.com/mrss/" '
      'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/"')


@dataclass
class Case:
    name: str
    data: bytes
    about: str
    expect: str = "ok"  # "ok" | "error" | "any"
    entries: int | None = None
    text: list[str] = field(default_factory=list)


CASES: list[Case] = []
_serial = iter(range(1000, 1_000_000))


def n() -> int:
    """A number unique in the corpus, for titles and links."""
    return next(_serial)


def add(name: str, data: bytes | str, about: str, expect: str = "ok",
        entries: int | None = None, text: list[str] | None = None) -> None:
    assert not any(c.name == name for c in CASES), name
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    CASES.append(Case(name, raw, about, expect, entries, text or []))


# -- building blocks ---------------------------------------------------------------

def item(title: str | None = None, *, link: str | None = "auto", guid: str | None = "auto",
         date: str | None = DATE, desc: str | None = None, content: str | None = None,
         author: str | None = None, category: str | None = None, extra: str = "",
         raw_title: bool = False) -> str:
    """One RSS 2.0 <item>. Text arguments are XML-escaped unless raw_title; desc and
    content are HTML, escaped as XML text (the usual way feeds carry HTML)."""
    k = n()
    parts = ["<item>"]
    if title is not None:
        parts.append(f"<title>{title if raw_title else escape(title)} {k}</title>"
                     if title else "<title></title>")
    if link == "auto":
        link = f"https://news.example.com/story/{k}"
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    if guid == "auto":
        guid = f"corpus-{k}"
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{escape(guid)}</guid>')
    if date is not None:
        parts.append(f"<pubDate>{escape(date)}</pubDate>")
    if author is not None:
        parts.append(f"<author>{escape(author)}</author>")
    if category is not None:
        parts.append(f"<category>{escape(category)}</category>")
    if desc is not None:
        parts.append(f"<description>{escape(desc)}</description>")
    if content is not None:
        parts.append(f"<content:encoded>{escape(content)}</content:encoded>")
    parts.append(extra)
    parts.append("</item>")
    return "".join(parts)


def rss(*items: str, decl: str = '<?xml version="1.0" encoding="utf-8"?>',
        version: str = "2.0", channel: str = "", title: str = "Corpus feed") -> str:
    return (f'{decl}<rss version="{version}" {NS}><channel><title>{escape(title)}</title>'
            f"<link>https://news.example.com/</link><description>corpus</description>"
            f"{channel}{''.join(items)}</channel></rss>")


def entry(title: str | None = None, *, title_type: str = "text", link: str | None = "auto",
          id_: str | None = "auto", updated: str | None = ISO, published: str | None = None,
          summary: str | None = None, content: str | None = None, content_type: str = "html",
          author: str | None = None, category: str | None = None, extra: str = "",
          attrs: str = "") -> str:
    """One Atom <entry>; summary/content are escaped as XML text unless content_type
    is xhtml, in which case content is inserted as markup inside a div."""
    k = n()
    parts = [f"<entry{attrs}>"]
    if title is not None:
        parts.append(f'<title type="{title_type}">{escape(title)} {k}</title>')
    if link == "auto":
        link = f"https://news.example.com/atom/{k}"
    if link is not None:
        parts.append(f'<link rel="alternate" href={quoteattr(link)}/>')
    if id_ == "auto":
        id_ = f"urn:corpus:{k}"
    if id_ is not None:
        parts.append(f"<id>{escape(id_)}</id>")
    if updated is not None:
        parts.append(f"<updated>{escape(updated)}</updated>")
    if published is not None:
        parts.append(f"<published>{escape(published)}</published>")
    if author is not None:
        parts.append(f"<author><name>{escape(author)}</name></author>")
    if category is not None:
        parts.append(f"<category term={quoteattr(category)}/>")
    if summary is not None:
        parts.append(f'<summary type="html">{escape(summary)}</summary>')
    if content is not None:
        if content_type == "xhtml":
            parts.append('<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
                         f"{content}</div></content>")
        else:
            parts.append(f'<content type="{content_type}">{escape(content)}</content>')
    parts.append(extra)
    parts.append("</entry>")
    return "".join(parts)


def atom(*entries: str, decl: str = '<?xml version="1.0" encoding="utf-8"?>',
         feed_attrs: str = "", head: str = "") -> str:
    return (f'{decl}<feed xmlns="http://www.w3.org/2005/Atom" '
            f'xmlns:media="http://search.yahoo.com/mrss/"{feed_attrs}>'
            f"<title>Corpus atom</title><id>urn:corpus:feed</id><updated>{ISO}</updated>"
            f'<link rel="self" href="https://news.example.com/atom.xml"/>{head}'
            f"{''.join(entries)}</feed>")


def plain_rss(count: int = 3, prefix: str = "Plain story", **kw: Any) -> str:
    return rss(*(item(f"{prefix}", desc=f"Summary of {prefix.lower()}. Two sentences.")
                 for _ in range(count)), **kw)



# -- sanitizer cases ---------------------------------------------------------------

HTML_PAYLOADS: list[tuple[str, str]] = [
    ("script", "<script>alert(1)</script>"),
    ("script-src", "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>"),
    ("script-unclosed", "<script>alert(1)"),
    ("script-split", "<scr<script>ipt>alert(1)</scr</script>ipt>"),
    ("script-lt-lt", "<<script>alert(1);//<</script>"),
    ("script-quotes", '<IMG """><SCRIPT>alert(1)</SCRIPT>">'),
    ("img-onerror", "<img src=x onerror=alert(1)>"),
    ("img-onload-ok-src", '<img src="https://ok.example/a.jpg" alt="x" onload="alert(1)">'),
    ("img-js-src", '<img src="javascript:alert(1)">'),
    ("img-data-svg", '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">'),
    ("img-data-png", '<img src="data:image/png;base64,iVBORw0KGgo=">'),
    ("img-srcset-js", '<img srcset="javascript:alert(1) 1x, https://ok.example/a.jpg 2x" '
                      'src="https://ok.example/a.jpg">'),
    ("img-backtick", '<img src="x` `" onerror="alert(1)">'),
    ("img-style-behavior", '<img src="https://ok.example/a.jpg" style="behavior:url(x.htc)">'),
    ("img-file", '<img src="file:///etc/passwd" alt="passwd">'),
    ("a-js", '<a href="javascript:alert(1)">click</a>'),
    ("a-js-case", '<a href="JaVaScRiPt:alert(1)">click</a>'),
    ("a-js-space", '<a href=" \tjavascript:alert(1)">click</a>'),
    ("a-js-tab-ref", '<a href="java&#x09;script:alert(1)">click</a>'),
    ("a-js-newline-ref", '<a href="jav&#x0A;ascript:alert(1)">click</a>'),
    ("a-js-decimal", '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;'
                     '&#58;alert(1)">click</a>'),
    ("a-js-hex", '<a href="&#x6A;avascript:alert(1)">click</a>'),
    ("a-js-padded", '<a href="&#0000106avascript:alert(1)">click</a>'),
    ("a-js-colon-entity", '<a href="javascript&colon;alert(1)">click</a>'),
    ("a-vbscript", '<a href="vbscript:msgbox(1)">click</a>'),
    ("a-data-html", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">'
                    "click</a>"),
    ("a-onclick", '<a href="https://ok.example/" onclick="alert(1)" onmouseover=alert(1)>ok</a>'),
    ("a-quote-break", '<a href="https://ok.example/&quot;onmouseover=&quot;alert(1)">ok</a>'),
    ("a-protocol-relative", '<a href="//evil.example/x">x</a>'),
    ("a-unclosed", '<a href="javascript:alert(1)"'),
    ("style-url-js", '<div style="background:url(javascript:alert(1))">styled</div>'),
    ("style-expression", '<p style="width:expression(alert(1))">styled</p>'),
    ("style-url-vbscript", '<p style="background-image:url(vbscript:x)">styled</p>'),
    ("style-tag", '<style>body{background:url("javascript:alert(1)")}</style>'),
    ("style-import", "<style>@import 'https://evil.example/x.css';</style>"),
    ("link-stylesheet", '<link rel="stylesheet" href="javascript:alert(1)">'),
    ("svg-onload", "<svg onload=alert(1)><circle r=1 /></svg>"),
    ("svg-script", "<svg><script>alert(1)</script></svg>"),
    ("svg-xlink", '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>'),
    ("svg-animate", '<svg><animate onbegin=alert(1) attributeName=x dur=1s>'),
    ("math-mglyph", "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>"
                    "</style></mglyph></table></mtext></math>"),
    ("math-href", '<math href="javascript:alert(1)">x</math>'),
    ("iframe", '<iframe src="https://evil.example/"></iframe>'),
    ("iframe-srcdoc", '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>'),
    ("object", '<object data="https://evil.example/x.swf"></object>'),
    ("embed", '<embed src="https://evil.example/x.swf">'),
    ("applet", '<applet code="X.class"></applet>'),
    ("form", '<form action="https://evil.example/"><input name=p>'
             '<button formaction="javascript:alert(1)">go</button></form>'),
    ("input-autofocus", "<input onfocus=alert(1) autofocus>"),
    ("isindex", "<isindex action=javascript:alert(1) type=image>"),
    ("meta-refresh", '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'),
    ("base-href", '<base href="javascript:alert(1)//">'),
    ("comment-script", "<!--<script>alert(1)</script>-->"),
    ("comment-breakout", "<!--><script>alert(1)</script>-->"),
    ("cdata-in-html", "<![CDATA[<script>alert(1)</script>]]>"),
    ("noscript-mxss", '<noscript><p title="</noscript><img src=x onerror=alert(1)>">'
                      "</noscript>"),
    ("body-onload", "<body onload=alert(1)>"),
    ("details-ontoggle", "<details open ontoggle=alert(1)>x</details>"),
    ("video-source", "<video><source onerror=alert(1)></video>"),
    ("audio-onerror", "<audio src=x onerror=alert(1)>"),
    ("marquee", "<marquee onstart=alert(1)>x</marquee>"),
    ("template", "<template><script>alert(1)</script></template>"),
    ("plaintext", "<plaintext><script>alert(1)</script>"),
    ("xmp", "<xmp><script>alert(1)</script></xmp>"),
    ("textarea", "<textarea></textarea><script>alert(1)</script>"),
    ("title-breakout", "<title></title><script>alert(1)</script>"),
    ("xhtml-ns-script", '<x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>'),
    ("escaped-text", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
    ("double-escaped", "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;"),
    ("mj-raw", "<mj-raw><script>alert(1)</script></mj-raw>"),
    ("mjml-breakout", "</mj-text></mj-column></mj-section><mj-raw><script>alert(1)</script>"
                      "</mj-raw><mj-section><mj-column><mj-text>"),
    ("mjml-attr", '<mj-button href="javascript:alert(1)">x</mj-button>'),
    ("jinja", "{{ 7*7 }}{% for x in range(10**9) %}{% endfor %}{{ config }}"),
    ("conditional-comment", "<!--[if gte mso 9]><script>alert(1)</script><![endif]-->"),
]

URL_PAYLOADS: list[tuple[str, str]] = [
    ("js", "javascript:alert(1)"),
    ("js-upper", "JAVASCRIPT:alert(1)"),
    ("js-leading-space", "  javascript:alert(1)"),
    ("js-tab", "java\tscript:alert(1)"),
    ("vbscript", "vbscript:msgbox(1)"),
    ("data-html", "data:text/html,<script>alert(1)</script>"),
    ("data-svg", "data:image/svg+xml,<svg onload=alert(1)>"),
    ("file-passwd", "file:///etc/passwd"),
    ("protocol-relative", "//evil.example/x.jpg"),
    ("quote-break", 'https://ok.example/x.jpg"onmouseover="alert(1)'),
    ("tag-break", "https://ok.example/'><script>alert(1)</script>.jpg"),
    ("attr-break", 'https://ok.example/a.jpg" onerror="alert(1)'),
    ("about-blank", "about:blank"),
    ("mailto", "mailto:someone@example.com?subject=<script>"),
    ("ftp", "ftp://ftp.example.com/file.jpg"),
    ("space-inside", "https://ok.example/a b/c.jpg"),
    ("js-after-http", "https://ok.example/#javascript:alert(1)"),
    ("backslashes", "https:\\\\evil.example\\x.jpg"),
]


def sanitizer_cases() -> None:
    for slug, payload in HTML_PAYLOADS:
        add(f"san-html-{slug}.xml", rss(
            item(f"Sanitizer {slug} in title {payload}", author=f"{payload} (Eve)",
                 category=f"World {payload}", desc="Plain summary. Nothing special."),
            item(f"Sanitizer {slug} in description", desc=f"Before. {payload} After.",
                 extra=f'<media:content url="https://ok.example/{n()}.jpg" medium="image">'
                       f"<media:title>{escape(payload)}</media:title>"
                       f"<media:description>{escape(payload)}</media:description>"
                       f"<media:credit>{escape(payload)}</media:credit></media:content>"),
            item(f"Sanitizer {slug} in content", desc="Short summary.",
                 content=f"<p>First paragraph.</p>{payload}<p>Last paragraph.</p>"),
        ), f"RSS: HTML payload {slug} in title/author/category, description/media, "
           "content:encoded", "ok", 3)
        add(f"san-html-{slug}.atom", atom(
            entry(f"Sanitizer atom {slug} {payload}", title_type="html",
                  summary=f"Summary {payload}", author=payload, category=payload),
            entry(f"Sanitizer atom {slug} content", content=f"<p>Intro.</p>{payload}"),
        ), f"Atom: HTML payload {slug} in an html title, summary, author, category, content",
            "ok", 2)
    for slug, url in URL_PAYLOADS:
        add(f"san-url-{slug}.xml", rss(
            item(f"Unsafe link {slug}", link=url, guid=url,
                 desc=f'<p>See <a href="{url}">this</a>.</p>'),
            item(f"Unsafe image {slug}", desc=f'<p>Pic:</p><img src="{url}" alt="pic">',
                 extra=f'<enclosure url={quoteattr(url)} type="image/jpeg" length="1"/>'),
            item(f"Unsafe media {slug}", desc="Media item.",
                 extra=f"<media:content url={quoteattr(url)} medium=\"image\"/>"
                       f"<media:thumbnail url={quoteattr(url)}/>"),
        ), f"RSS: URL {url!r} as link, guid, a href, img src, enclosure, media:content, "
           "media:thumbnail", "ok", 3)
        add(f"san-url-{slug}.atom", atom(
            entry(f"Unsafe atom link {slug}", link=url,
                  content=f'<a href="{url}">x</a><img src="{url}">'),
            entry(f"Unsafe atom enclosure {slug}",
                  extra=f'<link rel="enclosure" type="image/jpeg" href={quoteattr(url)}/>'),
        ), f"Atom: URL {url!r} as alternate link, enclosure link, content a/img", "ok", 2)
    # xhtml content is markup in the feed itself, not escaped text.
    for slug, markup in [
        ("script", "<script>alert(1)</script><p>after</p>"),
        ("onclick", '<p onclick="alert(1)">click</p>'),
        ("a-js", '<a href="javascript:alert(1)">x</a>'),
        ("img-data", '<img src="data:image/png;base64,iVBORw0KGgo=" alt="d"/>'),
        ("iframe", '<iframe src="https://evil.example/"/>'),
        ("svg", '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ]:
        add(f"san-xhtml-{slug}.atom", atom(
            entry(f"XHTML content {slug}", content=markup, content_type="xhtml"),
            entry(f"XHTML second {slug}", content="<p>fine</p>", content_type="xhtml"),
        ), f"Atom: xhtml content carrying {slug} as real markup", "ok", 2)
    # Raw (unescaped) HTML inside RSS elements: not well-formed RSS, parsed loosely.
    for slug, payload in [("script", "<script>alert(1)</script>"),
                          ("img-onerror", '<img src="x" onerror="alert(1)"/>'),
                          ("a-js", '<a href="javascript:alert(1)">x</a>')]:
        add(f"san-raw-{slug}.xml", rss(
            item(f"<b>Raw</b> {payload} title {slug}", raw_title=True,
                 extra=f"<description>Raw {payload} description</description>"),
            item(f"Raw companion {slug}"),
        ), f"RSS: unescaped markup {slug} as child elements of title/description", "any")
    # CDATA tricks in the feed XML itself.
    add("san-cdata-script.xml", rss(
        item("CDATA script", extra="<description><![CDATA[<script>alert(1)</script>"
                                   "<p>text</p>]]></description>"),
        item("CDATA split", extra="<description><![CDATA[<scr]]><![CDATA[ipt>alert(1)"
                                  "</scr]]><![CDATA[ipt>]]></description>"),
        item("<![CDATA[<img src=x onerror=alert(1)>]]> CDATA in title", raw_title=True),
    ), "RSS: script and onerror inside CDATA sections, split across sections", "ok", 3)
    add("san-entity-defined.xml", rss(
        item("Internal entity &x;", raw_title=True, desc="entity"),
        item("Entity in description", extra="<description>&x;</description>"),
        decl='<?xml version="1.0" encoding="utf-8"?><!DOCTYPE rss [<!ENTITY x '
             '"&#60;script&#62;alert(1)&#60;/script&#62;">]>',
    ), "RSS: an internal DTD entity that expands to a script tag", "any")
    add("san-xxe-file.xml", rss(
        item("XXE &xxe;", raw_title=True, desc="xxe"),
        item("XXE companion", extra="<description>&xxe;</description>"),
        decl='<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM '
             '"file:///etc/passwd">]>',
    ), "RSS: an external entity naming file:///etc/passwd (must never be read)", "any")
    add("san-xxe-parameter.xml", rss(
        item("XXE parameter"),
        decl='<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM '
             '"http://127.0.0.1:9/evil.dtd"> %p;]>',
    ), "RSS: an external parameter entity pointing at a closed local port", "any")
    add("san-external-dtd.xml", rss(
        item("External DTD"),
        decl='<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/rss.dtd">',
    ), "RSS: an external DTD at a closed local port (never fetched)", "any")
    add("san-xinclude.xml", rss(
        item("XInclude", extra='<description><xi:include xmlns:xi="http://www.w3.org/2001/'
                               'XInclude" href="file:///etc/passwd" parse="text"/>'
                               "</description>"),
    ), "RSS: an XInclude of /etc/passwd inside a description", "any")
    add("san-deep-html.xml", rss(
        item("Deep HTML", desc="<div>" * 3000 + "deep" + "</div>" * 3000),
        item("Deep HTML companion"),
    ), "RSS: HTML nested 3000 deep in a description", "ok", 2)


# -- encodings -----------------------------------------------------------------------

TEXTS = {
    "utf-8": "Grüße café — 中文 日本語 한국어 Ελληνικά",
    "iso-8859-1": "Grüße café señor naïve",
    "windows-1252": "“Smart quotes” café €5 …",
    "iso-8859-15": "Prix 5€ œuvre",
    "gb2312": "中国经济 贸易数据",
    "gbk": "中国经济 贸易数据 镕",
    "gb18030": "中国经济 贸易数据 𠀀",
    "big5": "中國經濟 貿易數據",
    "shift_jis": "日本経済 東京",
    "euc-jp": "日本経済 大阪",
    "iso-2022-jp": "日本経済 京都",
    "euc-kr": "한국 경제",
    "koi8-r": "Экономика России",
    "windows-1251": "Экономика Украины",
    "iso-8859-7": "Ελληνική οικονομία",
    "iso-8859-5": "Банк",
    "utf-16": "Grüße 中文 UTF-16",
    "utf-32": "Grüße 中文 UTF-32",
}


def enc_feed(label: str, text: str, decl: str | None) -> str:
    head = f'<?xml version="1.0" encoding="{decl}"?>' if decl is not None else ""
    return rss(item(f"{text} {label}", desc=f"{text}. Second sentence."),
               item(f"Encoding companion {label}"), decl=head)


def encoding_cases() -> None:
    for codec, text in TEXTS.items():
        if codec in ("utf-16", "utf-32"):
            continue
        add(f"enc-declared-{codec}.xml", enc_feed(codec, text, codec).encode(codec),
            f"encoded in {codec}, declared {codec}", "ok", 2, [text])
    u8 = TEXTS["utf-8"]
    add("enc-utf8-no-decl.xml", enc_feed("nodecl", u8, None).encode(),
        "UTF-8 with no XML declaration", "ok", 2, [u8])
    add("enc-utf8-bom.xml", b"\xef\xbb\xbf" + enc_feed("bom", u8, "utf-8").encode(),
        "UTF-8 with a BOM and a matching declaration", "ok", 2, [u8])
    add("enc-utf8-bom-no-decl.xml", b"\xef\xbb\xbf" + enc_feed("bomnodecl", u8, None).encode(),
        "UTF-8 with a BOM and no declaration", "ok", 2, [u8])
    add("enc-utf8-bom-decl-latin1.xml",
        b"\xef\xbb\xbf" + enc_feed("bomlatin", u8, "iso-8859-1").encode(),
        "UTF-8 BOM, declaration says iso-8859-1 (the BOM is right)", "any")
    add("enc-utf8-double-bom.xml", b"\xef\xbb\xbf" * 2 + enc_feed("bom2", u8, "utf-8").encode(),
        "two UTF-8 BOMs", "any")
    u16 = TEXTS["utf-16"]
    for codec, bom, label in [("utf-16-le", b"\xff\xfe", "le"), ("utf-16-be", b"\xfe\xff", "be")]:
        add(f"enc-utf16{label}-bom.xml", bom + enc_feed(f"16{label}bom", u16, "utf-16")
            .encode(codec), f"UTF-16 {label.upper()} with BOM, declared utf-16", "ok", 2, [u16])
        add(f"enc-utf16{label}-bom-no-decl.xml", bom + enc_feed(f"16{label}nd", u16, None)
            .encode(codec), f"UTF-16 {label.upper()} with BOM, no declaration", "ok", 2, [u16])
        add(f"enc-utf16{label}-no-bom.xml", enc_feed(f"16{label}nb", u16, f"utf-16{label}")
            .encode(codec), f"UTF-16 {label.upper()} without BOM, declared utf-16{label}",
            "any")
        add(f"enc-utf16{label}-no-bom-decl-utf16.xml",
            enc_feed(f"16{label}nbd", u16, "utf-16").encode(codec),
            f"UTF-16 {label.upper()} without BOM, declared plain utf-16", "any")
        add(f"enc-utf16{label}-bom-decl-utf8.xml", bom + enc_feed(f"16{label}u8", u16, "utf-8")
            .encode(codec), f"UTF-16 {label.upper()} BOM, declaration says utf-8", "any")
    u32 = TEXTS["utf-32"]
    add("enc-utf32le-bom.xml", b"\xff\xfe\x00\x00" + enc_feed("32le", u32, "utf-32")
        .encode("utf-32-le"), "UTF-32 LE with BOM", "any")
    add("enc-utf32be-no-bom.xml", enc_feed("32be", u32, "utf-32").encode("utf-32-be"),
        "UTF-32 BE without BOM, declared utf-32", "any")
    latin = TEXTS["iso-8859-1"]
    add("enc-latin1-declared-utf8.xml", enc_feed("l1u8", latin, "utf-8").encode("latin-1"),
        "latin-1 bytes declared utf-8", "any")
    add("enc-latin1-no-decl.xml", enc_feed("l1nd", latin, None).encode("latin-1"),
        "latin-1 bytes, no declaration (defaults to utf-8)", "any")
    cp = TEXTS["windows-1252"]
    add("enc-cp1252-declared-latin1.xml", enc_feed("cpl1", cp, "iso-8859-1")
        .encode("windows-1252"), "windows-1252 bytes (0x80-0x9f) declared iso-8859-1", "any")
    add("enc-cp1252-declared-utf8.xml", enc_feed("cpu8", cp, "utf-8").encode("windows-1252"),
        "windows-1252 bytes declared utf-8", "any")
    add("enc-gbk-declared-gb2312.xml", enc_feed("gbk2312", TEXTS["gbk"], "gb2312").encode("gbk"),
        "GBK bytes beyond GB2312, declared gb2312", "any")
    add("enc-gb18030-declared-gbk.xml", enc_feed("18030gbk", TEXTS["gb18030"], "gbk")
        .encode("gb18030"), "GB18030 four-byte characters declared gbk", "any")
    add("enc-sjis-declared-eucjp.xml", enc_feed("sjeuc", TEXTS["shift_jis"], "euc-jp")
        .encode("shift_jis"), "Shift_JIS bytes declared euc-jp", "any")
    add("enc-utf8-declared-sjis.xml", enc_feed("u8sj", u8, "shift_jis").encode(),
        "UTF-8 bytes declared shift_jis", "any")
    add("enc-utf8-declared-utf16.xml", enc_feed("u8u16", u8, "utf-16").encode(),
        "UTF-8 bytes declared utf-16 with no BOM", "any")
    add("enc-unknown-name.xml", enc_feed("bogus", u8, "x-bogus-42").encode(),
        "UTF-8 declared as an encoding no codec has: still a feed", "ok", 2)
    add("enc-empty-name.xml", enc_feed("emptyname", u8, "").encode(),
        'encoding=""', "any")
    add("enc-utf7-xss.xml", rss(
        item("+ADw-script+AD4-alert(1)+ADw-/script+AD4- utf7"),
        item("UTF-7 companion"), decl='<?xml version="1.0" encoding="utf-7"?>').encode(),
        "declared utf-7, title spelling <script> in UTF-7", "any")
    add("enc-ebcdic.xml", enc_feed("ebcdic", "Hello EBCDIC", "cp500").encode("cp500"),
        "EBCDIC (cp500) declared", "any")
    bad = enc_feed("badutf8", "MARK", "utf-8").encode()
    for slug, junk in [("continuation", b"\x80\x81"), ("overlong", b"\xc0\xaf"),
                       ("surrogate-cesu", b"\xed\xa0\x80"), ("above-max", b"\xf4\x90\x80\x80"),
                       ("truncated", b"\xe4\xb8")]:
        add(f"enc-invalid-utf8-{slug}.xml", bad.replace(b"MARK", b"bad " + junk + b" bytes"),
            f"declared utf-8, contains invalid UTF-8 ({slug})", "any")
    add("enc-truncated-multibyte-eof.xml", bad + b"\xe4\xb8",
        "valid feed followed by a truncated multibyte sequence", "any")
    add("enc-bom-only.xml", b"\xef\xbb\xbf", "only a UTF-8 BOM", "error")
    add("enc-utf16-bom-only.xml", b"\xff\xfe", "only a UTF-16 BOM", "error")
    add("enc-atom-big5.atom", atom(entry(TEXTS["big5"]), entry("Big5 companion"),
                                   decl='<?xml version="1.0" encoding="big5"?>').encode("big5"),
        "Atom encoded in big5", "ok", 2, [TEXTS["big5"]])
    add("enc-mixed.xml", enc_feed("mixed1", "café", "utf-8").encode()[:-200]
        + "naïve ".encode("latin-1") + enc_feed("mixed1", "café", "utf-8").encode()[-200:],
        "UTF-8 feed with latin-1 bytes spliced in", "any")


# -- control characters, surrogates, bidi --------------------------------------------

def control_cases() -> None:
    for code in list(range(0x00, 0x09)) + [0x0B, 0x0C] + list(range(0x0E, 0x20)) + [0x7F]:
        ch = chr(code)
        add(f"ctl-raw-{code:02x}.xml", rss(
            item(f"Control {code:02x} [{ch}] title", desc=f"Desc [{ch}] with control.",
                 author=f"Auth{ch}or", category=f"Cat{ch}"),
            item(f"Control companion {code:02x}"),
        ), f"raw U+{code:04X} in title, description, author, category", "any")
    for ref in ["#x0", "#x1b", "#x7", "#xb", "#xc", "#xFFFE", "#xFFFF", "#xD800", "#xDFFF",
                "#55296", "#x110000", "#xFDD0", "#x1FFFE"]:
        slug = ref.lstrip("#").lower()
        add(f"ctl-ref-{slug}.xml", rss(
            item(f"Reference &{ref}; title", raw_title=True, desc=f"Desc &amp;{ref}; text",
                 extra=f"<author>a&{ref};b</author>"),
            item(f"Reference companion {slug}"),
        ), f"character reference &{ref}; in title and author", "any")
    add("ctl-ref-surrogate-pair.xml", rss(
        item("Pair &#xD83D;&#xDE00; title", raw_title=True), item("Pair companion")),
        "a surrogate pair written as two character references", "any")
    add("ctl-c1.xml", rss(
        item("C1 \x80\x85\x8d\x9b\x9f controls"), item("C1 companion")),
        "C1 controls U+0080-U+009F encoded as UTF-8", "any")
    add("ctl-nonchars.xml", rss(
        item("Nonchars \ufdd0 \ufffe \uffff \U0010ffff end"), item("Nonchar companion")),
        "noncharacters U+FDD0, U+FFFE, U+FFFF, U+10FFFF encoded as UTF-8", "any")
    add("ctl-lone-surrogate-raw.xml", rss(
        item("Lone \ud800 surrogate raw", desc="lone \udc00 low"), item("Lone companion")),
        "lone surrogates written raw (CESU-style bytes ED A0 80)", "any")
    add("ctl-nul-in-link.xml", rss(
        item("NUL in link", link="https://news.example.com/a\x00b"), item("NUL companion")),
        "a NUL byte inside a link", "any")
    add("ctl-controls-in-media.xml", rss(
        item("Controls in media", extra='<media:content url="https://ok.example/c.jpg" '
             'medium="image"><media:title>alt\x07\x1b</media:title>'
             "<media:credit>cred\x0c</media:credit><media:description>cap\x0b"
             "</media:description></media:content>"),
        item("Controls media companion")),
        "controls in media:title, media:credit, media:description", "any")
    for code in list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A)) + [0x200E, 0x200F,
                                                                              0x061C]:
        ch = chr(code)
        add(f"ctl-bidi-{code:04x}.xml", rss(
            item(f"Bidi {ch}gnp.exe{ch} title", author=f"Ev{ch}e", category=f"Wo{ch}rld",
                 desc=f"Bidi {ch} in the summary."),
            item(f"Bidi companion {code:04x}"),
        ), f"U+{code:04X} (bidi control) in title, author, category, description", "ok", 2)
    add("ctl-unicode-separators.xml", rss(
        item("Separators \u2028 line \u2029 para \x85 nel \u00a0 nbsp \u3000 ideo"),
        item("Zero width \u200b\u200c\u200d\ufeff joiners"),
        item("Zalgo " + "a\u0300\u0301\u0302\u0303\u0304" * 200)),
        "line/paragraph separators, NEL, zero-width characters, combining marks", "ok", 3)
    add("ctl-rtl-scripts.xml", rss(
        item("الاقتصاد الصيني"), item("הכלכלה הסינית"), item("Emoji 🇨🇳📈💹 title")),
        "Arabic, Hebrew and emoji titles", "ok", 3)


# -- fields: empty, missing, huge, duplicate -----------------------------------------

def field_cases() -> None:
    add("fld-title-missing.xml", rss(item(None, desc="No title one."),
                                     item(None, desc="No title two."), item("Has a title")),
        "items without a title", "ok", 3)
    add("fld-title-empty.xml", rss(item(""), item("   ", raw_title=True), item("Titled one")),
        "empty and whitespace-only titles", "ok", 3)
    add("fld-title-tags-only.xml", rss(item("<b></b><i></i>"), item("Tags companion")),
        "a title that is only empty tags", "ok", 2)
    add("fld-title-1mb.xml", rss(item("Huge title " + "word " * 209_715),
                                 item("Huge title companion")),
        "a 1 MB title", "ok", 2)
    add("fld-title-long-word.xml", rss(item("Longword " + "x" * 50_000),
                                       item("Longword companion")),
        "a 50,000-character word in a title", "ok", 2)
    add("fld-description-300kb.xml", rss(
        item("Huge description", desc="<p>" + "Sentence here. " * 20_000 + "</p>"),
        item("Huge description companion")), "a 300 KB description", "ok", 2)
    add("fld-content-many-paragraphs.xml", rss(
        item("Many paragraphs", content="".join(f"<p>Paragraph {i}.</p>" for i in range(5000))),
        item("Many paragraphs companion")), "5,000 paragraphs of content", "ok", 2)
    add("fld-link-64kb.xml", rss(
        item("Huge link", link="https://news.example.com/" + "a" * 65_536),
        item("Huge link companion")), "a 64 KB link", "ok", 2)
    add("fld-author-64kb.xml", rss(item("Huge author", author="Name " * 13_000),
                                   item("Huge author companion")),
        "a 64 KB author", "ok", 2)
    add("fld-category-64kb.xml", rss(item("Huge category", category="Cat" * 21_000),
                                     item("Huge category companion")),
        "a 64 KB category", "ok", 2)
    add("fld-guid-64kb.xml", rss(item("Huge guid", guid="g" * 65_536), item("Guid companion")),
        "a 64 KB guid", "ok", 2)
    add("fld-image-url-64kb.xml", rss(
        item("Huge image url", extra=f'<media:thumbnail url="https://ok.example/{"i" * 65_536}'
                                     '.jpg"/>'), item("Huge image companion")),
        "a 64 KB image URL", "ok", 2)
    add("fld-many-categories.xml", rss(item(
        "Many categories", extra="".join(f"<category>C{i}</category>" for i in range(500))),
        item("Categories companion")), "500 categories on one item", "ok", 2)
    add("fld-many-thumbnails.xml", rss(item(
        "Many thumbnails", extra="".join(f'<media:thumbnail url="https://ok.example/t{i}.jpg"/>'
                                         for i in range(500))),
        item("Thumbnails companion")), "500 thumbnails on one item", "ok", 2)
    add("fld-link-missing.xml", rss(item("No link one", link=None),
                                    item("No link two", link=None, guid=None),
                                    item("Linked one")),
        "items without a link (and one without guid either)", "ok", 3)
    add("fld-link-empty.xml", rss(item("Empty link", link=""), item("Space link", link="   "),
                                  item("Empty link companion")),
        "empty and whitespace-only links", "ok", 3)
    add("fld-guid-missing.xml", rss(item("No guid one", guid=None),
                                    item("No guid two", guid=None)),
        "items without a guid", "ok", 2)
    add("fld-nothing.xml", rss("<item></item>", "<item/>", item("Only this one")),
        "two empty items (one article between them) and a real one", "ok", 2)
    add("fld-only-description.xml", rss(
        item(None, link=None, guid=None, date=None, desc="Just a description one."),
        item(None, link=None, guid=None, date=None, desc="Just a description two.")),
        "items with only a description", "ok", 2)
    add("fld-date-missing.xml", rss(item("No date one", date=None),
                                    item("No date two", date=None)),
        "items without a date", "ok", 2)
    add("fld-dup-guid.xml", rss(*(item(f"Same guid {i}", guid="same-guid") for i in range(3))),
        "three items sharing one guid: one article (the guid names the item)", "ok", 1)
    add("fld-dup-guid-other-feed.xml", rss(item("Cross guid", guid="same-guid"),
                                           item("Cross guid companion")),
        "reuses fld-dup-guid.xml's guid from another feed", "ok", 2)
    add("fld-dup-link.xml", rss(*(item(f"Same link {i}", link="https://news.example.com/dup")
                                  for i in range(3))),
        "three items sharing one link", "ok", 3)
    add("fld-dup-link-tracking.xml", rss(
        item("Tracking a", link="https://news.example.com/t?utm_source=x&id=1"),
        item("Tracking b", link="https://NEWS.example.com:443/t?id=1&fbclid=y#frag")),
        "links equal after canonicalisation", "ok", 2)
    add("fld-dup-title.xml", rss(*("<item><title>Exactly the same title</title>"
                                   f"<link>https://news.example.com/dt/{n()}</link></item>"
                                   for _ in range(3))),
        "three items with exactly the same title", "ok", 3)
    add("fld-title-entities.xml", rss(
        item("&amp;amp; &amp;lt;b&amp;gt; &amp;#169; &amp;nbsp;", raw_title=True),
        item("Entities &lt;i&gt;italic&lt;/i&gt; &#169; &#8212;", raw_title=True)),
        "double-escaped and numeric entities in titles", "ok", 2)
    add("fld-title-newlines.xml", rss(item("Line\none\n\n\ntwo\r\nthree\tfour"),
                                      item("Newline companion")),
        "newlines, CRLF and tabs in a title", "ok", 2)
    add("fld-empty-channel.xml", '<?xml version="1.0"?><rss version="2.0"><channel>'
        "</channel></rss>", "an RSS channel with nothing in it", "any")
    add("fld-no-items.xml", rss(), "a channel without items", "any")
    add("fld-item-outside-channel.xml",
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel>'
        + item("Outside the channel") + "</rss>", "an item after </channel>", "any")
    add("fld-atom-empty.atom", atom(), "an Atom feed without entries", "any")
    add("fld-atom-no-title-no-link.atom", atom(entry(None, link=None), entry(None, link=None)),
        "Atom entries without title or link", "ok", 2)
    add("fld-atom-many-links.atom", atom(entry(
        "Many links", extra="".join(f'<link rel="related" href="https://ok.example/{i}"/>'
                                    for i in range(200))), entry("Links companion")),
        "an Atom entry with 200 links", "ok", 2)


# -- dates -----------------------------------------------------------------------------

RSS_DATES = [
    ("future-2099", "Thu, 31 Dec 2099 23:59:59 GMT"),
    ("year-0000", "Sat, 01 Jan 0000 00:00:00 GMT"),
    ("year-0001", "Mon, 01 Jan 0001 00:00:00 GMT"),
    ("year-9999", "Fri, 31 Dec 9999 23:59:59 +0000"),
    ("year-9999-minus-tz", "Fri, 31 Dec 9999 23:59:59 -1200"),
    ("year-10000", "Sat, 01 Jan 10000 00:00:00 GMT"),
    ("epoch", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("year-1900", "Mon, 01 Jan 1900 00:00:00 GMT"),
    ("tz-minus-2400", "Mon, 16 Nov 2026 08:00:00 -2400"),
    ("tz-plus-9999", "Mon, 16 Nov 2026 08:00:00 +9999"),
    ("tz-minus-9959", "Mon, 16 Nov 2026 08:00:00 -9959"),
    ("tz-name", "Mon, 16 Nov 2026 08:00:00 XYZ"),
    ("feb-30", "Mon, 30 Feb 2026 08:00:00 GMT"),
    ("month-13", "Mon, 16 Tre 2026 08:00:00 GMT"),
    ("hour-25", "Mon, 16 Nov 2026 25:61:61 GMT"),
    ("leap-second", "Wed, 31 Dec 2025 23:59:60 GMT"),
    ("garbage", "yesterday-ish, around lunch"),
    ("empty", ""),
    ("unix-number", "1763251200"),
    ("iso-in-rss", "2026-11-16T08:00:00Z"),
    ("huge-number", "9" * 400),
    ("negative-year", "Mon, 16 Nov -2026 08:00:00 GMT"),
]
ATOM_DATES = [
    ("year-0000", "0000-01-01T00:00:00Z"),
    ("year-0001", "0001-01-01T00:00:00+14:00"),
    ("year-9999", "9999-12-31T23:59:59-12:00"),
    ("negative-year", "-0001-01-01T00:00:00Z"),
    ("no-tz", "2026-11-16T08:00:00"),
    ("date-only", "2026-11-16"),
    ("future", "2999-01-01T00:00:00Z"),
    ("garbage", "not a date"),
    ("fraction", "2026-11-16T08:00:00.123456789123456789Z"),
    ("tz-overflow", "2026-11-16T08:00:00+99:99"),
]


def date_cases() -> None:
    for slug, value in RSS_DATES:
        add(f"date-rss-{slug}.xml", rss(item(f"Date {slug}", date=value),
                                        item(f"Date companion {slug}")),
            f"RSS pubDate {value[:40]!r}: a bad date loses no article", "ok", 2)
    for slug, value in ATOM_DATES:
        add(f"date-atom-{slug}.atom", atom(entry(f"Atom date {slug}", updated=value,
                                                 published=value),
                                           entry(f"Atom date companion {slug}")),
            f"Atom updated/published {value[:40]!r}: a bad date loses no article", "ok", 2)
    add("date-dc-date.xml", rss(item("DC date", date=None,
                                     extra="<dc:date>0000-00-00T00:00:00Z</dc:date>"),
                                item("DC date companion")),
        "dc:date of all zeros: a bad date loses no article", "ok", 2)
    add("date-atom-updated-only.atom", atom(entry("Updated only", updated=ISO),
                                            entry("Updated only companion")),
        "Atom entries with updated but no published", "ok", 2)


# -- links and xml:base ----------------------------------------------------------------

def link_cases() -> None:
    add("link-relative-xml-base.xml", rss(
        item("Relative with base", link="story/a.html"),
        item("Relative up with base", link="../up/b.html"),
        channel="", title="Base").replace("<channel>",
                                          '<channel xml:base="https://base.example/news/">'),
        "relative links resolved against a channel xml:base", "ok", 2)
    add("link-relative-item-base.xml", rss(
        item("Item base", link="x.html").replace("<item>",
                                                 '<item xml:base="https://other.example/d/">'),
        item("Item base companion")),
        "an item-level xml:base", "ok", 2)
    add("link-relative-no-base.xml", rss(item("Relative no base", link="story/a.html"),
                                         item("Root relative", link="/root/b.html"),
                                         item("Relative companion")),
        "relative links and no xml:base (the feed is a local file)", "ok", 3)
    add("link-base-javascript.xml", rss(
        item("JS base", link="alert(1)"), item("JS base img", desc='<img src="x.jpg">'))
        .replace("<channel>", '<channel xml:base="javascript:/">'),
        "xml:base of javascript: with relative links and images", "any")
    add("link-base-data.atom", atom(entry("Data base", link="x"),
                                    feed_attrs=' xml:base="data:text/html,"'),
        "Atom xml:base of data: with a relative link", "any")
    add("link-atom-relative.atom", atom(
        entry("Atom relative", link="/a/1"), entry("Atom relative 2", link="b/2"),
        feed_attrs=' xml:base="https://atom.example/feed/"'),
        "Atom relative links with a feed xml:base", "ok", 2)
    add("link-protocol-relative.xml", rss(item("Protocol relative", link="//cdn.example/x"),
                                          item("Protocol companion")),
        "a protocol-relative link", "ok", 2)
    add("link-whitespace.xml", rss(item("Spaced", link="\n   https://news.example.com/sp  \n"),
                                   item("Spaced companion")),
        "a link surrounded by whitespace and newlines", "ok", 2)
    add("link-idn.xml", rss(item("IDN", link="https://bücher.example/straße?q=ü"),
                            item("IDN companion")), "an IDN host and non-ASCII path", "ok", 2)
    add("link-userinfo.xml", rss(item("Userinfo", link="https://user:pass@news.example.com/u"),
                                 item("Loopback", link="http://127.0.0.1:9/x"),
                                 item("IPv6", link="http://[::1]:9/x")),
        "credentials, loopback and IPv6 hosts in links", "ok", 3)
    add("link-weird-schemes.xml", rss(item("HTTPS upper", link="HTTPS://NEWS.EXAMPLE.COM/U"),
                                      item("Http colon", link="http:news.example.com"),
                                      item("Bad port", link="https://news.example.com:99999/")),
        "odd but http-looking links", "any")
    add("link-quotes.xml", rss(item("Quotes", link='https://news.example.com/"><script>x'),
                               item("Angle", link="https://news.example.com/<b>x</b>")),
        "quotes and angle brackets in links", "ok", 2)


# -- formats ---------------------------------------------------------------------------

def format_cases() -> None:
    it = "<item><title>{t} {k}</title><link>https://news.example.com/f/{k}</link>" \
         "<description>Format test.</description></item>"

    def items(t: str, count: int = 3) -> str:
        return "".join(it.format(t=t, k=n()) for _ in range(count))

    add("fmt-rss090.xml", '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
        '02/22-rdf-syntax-ns#" xmlns="http://my.netscape.com/rdf/simple/0.9/"><channel>'
        "<title>0.90</title><link>https://news.example.com/</link></channel>"
        + items("RSS 0.90") + "</rdf:RDF>", "RSS 0.90", "ok", 3)
    add("fmt-rss091-netscape.xml", '<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape '
        'Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">'
        '<rss version="0.91"><channel><title>0.91</title><link>https://news.example.com/</link>'
        "<language>en</language>" + items("RSS 0.91 Netscape") + "</channel></rss>",
        "RSS 0.91 with the Netscape DOCTYPE", "ok", 3)
    for version in ("0.91", "0.92", "0.93", "0.94"):
        add(f"fmt-rss{version.replace('.', '')}.xml", f'<?xml version="1.0"?><rss version='
            f'"{version}"><channel><title>{version}</title><link>https://news.example.com/'
            f"</link>{items('RSS ' + version)}</channel></rss>", f"RSS {version}", "ok", 3)
    add("fmt-rss10.xml", '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        '22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/'
        'elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        '<channel rdf:about="https://news.example.com/"><title>1.0</title>'
        "<link>https://news.example.com/</link></channel>"
        + "".join(f'<item rdf:about="https://news.example.com/r/{k}"><title>RSS 1.0 {k}</title>'
                  f"<link>https://news.example.com/r/{k}</link><dc:date>{ISO}</dc:date>"
                  f"<content:encoded>&lt;p&gt;RSS 1.0 content {k}&lt;/p&gt;</content:encoded>"
                  "</item>" for k in (n(), n(), n())) + "</rdf:RDF>", "RSS 1.0 (RDF)", "ok", 3)
    add("fmt-rss20-no-version.xml", '<?xml version="1.0"?><rss><channel><title>nov</title>'
        + items("No version") + "</channel></rss>", "rss without a version attribute", "ok", 3)
    add("fmt-rss30.xml", '<?xml version="1.0"?><rss version="3.0"><channel><title>3</title>'
        + items("RSS 3.0") + "</channel></rss>", "an rss version that does not exist", "ok", 3)
    add("fmt-atom03.atom", '<?xml version="1.0"?><feed version="0.3" xmlns="http://purl.org/'
        'atom/ns#"><title>0.3</title><modified>2026-11-16T08:00:00Z</modified>'
        + "".join(f'<entry><title>Atom 0.3 {k}</title><link rel="alternate" type="text/html" '
                  f'href="https://news.example.com/a03/{k}"/><id>urn:a03:{k}</id><modified>'
                  f'2026-11-16T08:00:00Z</modified><content type="text/html" mode="escaped">'
                  f"&lt;p&gt;Atom 0.3 {k}&lt;/p&gt;</content></entry>" for k in (n(), n()))
        + "</feed>", "Atom 0.3", "ok", 2)
    add("fmt-atom03-base64.atom", '<?xml version="1.0"?><feed version="0.3" xmlns="http://'
        'purl.org/atom/ns#"><title>b64</title>'
        + "".join(f'<entry><title>Base64 {k}</title><link rel="alternate" href="https://news.'
                  f'example.com/b64/{k}"/><id>urn:b64:{k}</id><content type="text/html" '
                  'mode="base64">PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0PjxwPmhpPC9wPg==</content>'
                  "</entry>" for k in (n(), n())) + "</feed>",
        "Atom 0.3 base64 content that decodes to a script", "ok", 2)
    add("fmt-atom10-text-types.atom", atom(
        entry("Text <b>type</b>", title_type="text", content="<b>bold</b> as text",
              content_type="text"),
        entry("Html &lt;i&gt;type", title_type="html", content="<i>it</i>"),
        entry("Xhtml title", content="<p>x<b>html</b></p>", content_type="xhtml")),
        "Atom text, html and xhtml constructs", "ok", 3)
    add("fmt-cdf.xml", '<?xml version="1.0"?><CHANNEL HREF="https://news.example.com/">'
        "<TITLE>CDF</TITLE>" + "".join(f'<ITEM HREF="https://news.example.com/cdf/{k}">'
                                       f"<TITLE>CDF item {k}</TITLE></ITEM>"
                                       for k in (n(), n())) + "</CHANNEL>", "CDF", "any")
    json_items = [{"id": f"j{k}", "url": f"https://news.example.com/j/{k}",
                   "title": f"JSON feed {k}", "content_html": "<p>JSON</p><script>alert(1)"
                   "</script>", "date_published": ISO} for k in (n(), n(), n())]
    add("fmt-jsonfeed.json", json.dumps({"version": "https://jsonfeed.org/version/1.1",
                                         "title": "JSON", "items": json_items}),
        "a JSON Feed 1.1 with a script in content_html", "any")
    add("fmt-json-garbage.json", '{"items": [{"title": "x"', "truncated JSON", "error")
    add("fmt-json-array.json", "[1, 2, 3]", "a JSON array", "error")
    add("fmt-json-html-title.json", json.dumps({"version": "https://jsonfeed.org/version/1",
                                                "items": [{"id": "1", "title": "<script>"}]}),
        "a JSON Feed 1.0 whose title is a script tag", "any")
    add("fmt-html-page.html", "<!doctype html><html><head><title>Home</title></head><body>"
        "<h1>Welcome</h1><script>alert(1)</script></body></html>", "an HTML page", "error")
    add("fmt-html-with-alternate.html", '<!doctype html><html><head><link rel="alternate" '
        'type="application/rss+xml" href="/feed.xml"></head><body>x</body></html>',
        "an HTML page that links to its feed", "error")
    add("fmt-xhtml-page.html", '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">'
        "<head><title>x</title></head><body><p>page</p></body></html>", "an XHTML page",
        "error")
    add("fmt-empty.xml", b"", "an empty file", "error")
    add("fmt-whitespace.xml", " \n\t\r\n  ", "only whitespace", "error")
    add("fmt-decl-only.xml", '<?xml version="1.0" encoding="utf-8"?>', "only an XML declaration",
        "error")
    add("fmt-rss-selfclosed.xml", '<?xml version="1.0"?><rss version="2.0"/>',
        "an empty <rss/>", "any")
    add("fmt-plain-text.txt", "Not Found\n", "a plain-text error page", "error")
    add("fmt-yaml.txt", "title: x\nitems:\n  - title: y\n", "YAML", "error")
    add("fmt-opml.xml", '<?xml version="1.0"?><opml version="2.0"><body><outline text="x" '
        'xmlUrl="https://news.example.com/rss"/></body></opml>', "an OPML file", "any")
    add("fmt-sitemap.xml", '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/'
        'schemas/sitemap/0.9"><url><loc>https://news.example.com/</loc></url></urlset>',
        "a sitemap", "any")
    add("fmt-soap.xml", '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.'
        'xmlsoap.org/soap/envelope/"><soap:Body><item><title>x</title></item></soap:Body>'
        "</soap:Envelope>", "a SOAP envelope with an item inside", "any")
    add("fmt-svg.xml", '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" '
        'onload="alert(1)"><script>alert(1)</script></svg>', "an SVG image", "any")
    valid = plain_rss(3, "Gzipped").encode()
    add("fmt-gzip.gz", gzip.compress(valid, mtime=0), "a gzip-compressed feed as a file",
        "error")
    add("fmt-zlib.bin", zlib.compress(valid), "zlib-compressed bytes", "error")
    add("fmt-bzip2.bin", bz2.compress(valid), "bzip2-compressed bytes", "error")
    add("fmt-png.bin", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG bytes", "error")
    add("fmt-pdf.bin", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF bytes",
        "error")
    rng = random.Random(20261116)
    for i in range(3):
        add(f"fmt-random-{i}.bin", bytes(rng.randrange(256) for _ in range(2048)),
            "2 KB of seeded random bytes", "error")
    add("fmt-processing-instructions.xml", '<?xml version="1.0"?><?xml-stylesheet href='
        '"javascript:alert(1)"?><?php echo 1; ?>' + plain_rss(2, "PI").split("?>", 1)[1],
        "processing instructions before the root", "ok", 2)


# -- broken XML ------------------------------------------------------------------------

def broken_cases() -> None:
    good = plain_rss(4, "Broken base")
    mid = len(good) // 2
    add("xml-truncated-half.xml", good[:mid], "a feed cut off in the middle", "any")
    add("xml-truncated-in-tag.xml", good[: good.rindex("<link>") + 3],
        "a feed cut off inside a tag", "any")
    add("xml-truncated-end.xml", good[:-7], "a feed missing its closing tags", "any")
    add("xml-truncated-cdata.xml", rss(item("Cdata cut")).replace(
        "</item>", "<description><![CDATA[<p>never closed", 1), "unterminated CDATA", "any")
    add("xml-unterminated-comment.xml", rss(item("Comment cut"))[:-20] + "<!-- never closed",
        "unterminated comment", "any")
    add("xml-mismatched-tags.xml", rss(item("Mismatch")).replace("</title>", "</titel>"),
        "mismatched closing tags", "any")
    add("xml-undefined-entity.xml", rss(item("Undefined &nbsp; &eacute; &hellip; entity",
                                             raw_title=True), item("Entity companion")),
        "HTML entities undefined in XML", "any")
    add("xml-bare-ampersand.xml", rss(item("Bare & ampersand && in title", raw_title=True),
                                      item("Ampersand companion")),
        "unescaped ampersands", "any")
    add("xml-bare-lt.xml", rss(item("Bare < less than 1 < 2", raw_title=True),
                               item("Less companion")), "unescaped < in text", "any")
    add("xml-unquoted-attr.xml", rss(item("Unquoted", extra="<enclosure url=https://ok.example/"
                                                             "u.jpg type=image/jpeg/>")),
        "an unquoted attribute", "any")
    add("xml-duplicate-attr.xml", rss(item("Dup attr", extra='<enclosure url="https://a.example'
                                                             '/a.jpg" url="javascript:x" '
                                                             'type="image/jpeg"/>')),
        "a duplicated attribute", "any")
    add("xml-two-roots.xml", good + good, "two root elements", "any")
    add("xml-junk-after-root.xml", good + "<<<garbage>>> & trailing", "junk after the root",
        "any")
    add("xml-junk-before-decl.xml", "junk" + good, "junk before the declaration", "any")
    add("xml-space-before-decl.xml", "\n\n   " + good, "whitespace before <?xml", "any")
    add("xml-nul-middle.xml", good[:mid] + "\x00" + good[mid:], "a NUL byte in the middle",
        "any")
    add("xml-bad-tag-name.xml", rss(item("Bad tag", extra="<1item>x</1item><a b>")),
        "invalid tag names", "any")
    add("xml-undeclared-prefix.xml", rss(item("Prefix", extra='<zz:thing a="1">x</zz:thing>'))
        .replace('xmlns:media="http://search.yahoo.com/mrss/" ', ""),
        "undeclared namespace prefixes", "any")
    add("xml-nested-cdata.xml", rss(item("Nested CDATA", extra="<description><![CDATA[a "
                                         "<![CDATA[b]]> c]]></description>")),
        "CDATA inside CDATA", "any")
    add("xml-cr-line-endings.xml", good.replace("><", ">\r<"), "CR-only line endings", "ok", 4)
    add("xml-crlf-line-endings.xml", good.replace("><", ">\r\n<"), "CRLF line endings", "ok", 4)
    add("xml-version-2.xml", good.replace('version="1.0"', 'version="2.0"', 1),
        "XML version 2.0", "any")
    add("xml-standalone-maybe.xml", good.replace("?>", ' standalone="maybe"?>', 1),
        "standalone=maybe", "any")
    add("xml-deep-nesting.xml", rss(item("Deep XML", extra="<x>" * 5000 + "</x>" * 5000)),
        "elements nested 5000 deep inside an item", "any")
    add("xml-billion-laughs.xml", '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "lol">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                  for i in range(9))
        + ']><rss version="2.0"><channel><title>x</title><item><title>&j;</title>'
        "<link>https://news.example.com/bl</link></item></channel></rss>",
        "the billion laughs entity bomb", "any")
    add("xml-quadratic-blowup.xml", '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "'
        + "x" * 20_000 + '">]><rss version="2.0"><channel><title>x</title><item><title>'
        + "&a;" * 300 + "</title><link>https://news.example.com/qb</link></item>"
        "</channel></rss>", "quadratic entity blowup (6 MB expanded)", "any")
    add("xml-entity-recursion.xml", '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "&b;">'
        '<!ENTITY b "&a;">]><rss version="2.0"><channel><item><title>&a;</title></item>'
        "</channel></rss>", "mutually recursive entities", "any")
    add("xml-html-in-description.xml", rss(item("Raw HTML desc", extra=(
        "<description><p>Para<br>break<img src=x></p><ul><li>one<li>two</ul></description>"))),
        "non-XML HTML (void tags, unclosed li) directly in a description", "any")
    add("xml-only-root-open.xml", '<?xml version="1.0"?><rss version="2.0">',
        "only an opening rss tag", "any")
    add("xml-atom-truncated.atom", atom(entry("Atom cut 1"), entry("Atom cut 2"))[:-30],
        "an Atom feed cut off at the end", "any")
    add("xml-bom-mid-file.xml", good[:mid] + "\ufeff" + good[mid:], "a BOM in the middle",
        "any")
    add("xml-tags-uppercase.xml", good.replace("<item>", "<ITEM>").replace("</item>",
                                                                           "</ITEM>"),
        "upper-case item tags", "any")


# -- placeholder look-alikes -----------------------------------------------------------

BAITS: list[tuple[str, str]] = [
    ("digest-email", "%%digest-email%%"),
    ("digest-unsubscribe-url", "%%digest-unsubscribe-url%%"),
    ("digest-name", "%%digest-name%%"),
    ("digest-marker-email", "%%digest:0123456789abcdef01234567:email%%"),
    ("digest-marker-unsubscribe", "%%digest:ffffffffffffffffffffffff:unsubscribe-url%%"),
    ("digest-marker-name", "%%digest:000000000000000000000000:name%%"),
    ("jinja-recipient-email", "{{ recipient.email }}"),
    ("jinja-recipient-unsub", "{{recipient.unsubscribe_url}}"),
    ("format-token", "{token}"),
    ("format-email", "{email}"),
    ("format-name", "{name}"),
    ("mailchimp", "*|EMAIL|*"),
    ("dollar", "${recipient.email}"),
    ("percent", "%email%"),
    ("brackets", "[email]"),
    ("jinja-expression", "{{ 7*7 }}"),
]


def placeholder_cases() -> None:
    for slug, bait in BAITS:
        url_bait = bait.replace(" ", "")
        add(f"ph-{slug}.xml", rss(
            item(f"Bait {bait} title", author=f"{bait} (Mallory)", category=f"Cat {bait}",
                 desc=f"Summary {bait}. Second sentence {bait}."),
            item(f"Bait link {slug}", link=f"https://news.example.com/b/{url_bait}/x",
                 desc=f'<p>Body {bait}</p><img src="https://ok.example/{url_bait}.jpg" '
                      f'alt="{bait}">'),
            item(f"Bait media {slug}", desc="Media bait.",
                 extra=f'<media:content url="https://ok.example/m/{url_bait}.jpg" '
                       f'medium="image"><media:title>{escape(bait)}</media:title>'
                       f"<media:description>{escape(bait)}</media:description>"
                       f"<media:credit>{escape(bait)}</media:credit></media:content>"),
        ), f"placeholder look-alike {bait!r} in every field", "ok", 3, [f"Bait {bait} title"])


# -- many items ------------------------------------------------------------------------

def bulk_cases() -> None:
    add("bulk-2000-items.xml", rss(*(
        f"<item><title>Tiny {k}</title><link>https://news.example.com/tiny/{k}</link></item>"
        for k in (n() for _ in range(2000)))), "2,000 tiny items", "ok", 2000)
    add("bulk-500-same-guid.xml", rss(*(
        f"<item><title>Guid twin {k}</title><guid>one-guid</guid>"
        f"<link>https://news.example.com/gt/{k}</link></item>" for k in (n() for _ in range(500)))),
        "500 items sharing a guid: one article", "ok", 1)
    add("bulk-300-same-title.xml", rss(*(
        f"<item><title>The very same headline</title><link>https://news.example.com/st/{k}"
        "</link></item>" for k in (n() for _ in range(300)))),
        "300 items with the same title", "ok", 300)
    add("bulk-1000-no-link.xml", rss(*(
        f"<item><title>Unlinked {k}</title><guid>unlinked-{k}</guid></item>"
        for k in (n() for _ in range(1000)))), "1,000 items without links", "ok", 1000)


# -- images ----------------------------------------------------------------------------

def media_cases() -> None:
    add("img-tracking-pixel.xml", rss(
        item("Pixel only", desc='<p>Story.</p><img src="https://t.example/p.gif" width="1" '
                                'height="1" alt="">'),
        item("Pixel media", extra='<media:content url="https://t.example/p2.gif" '
                                  'medium="image" width="1" height="1"/>'),
        item("Pixel companion")), "1x1 tracking pixels as the only images", "ok", 3)
    add("img-relative.xml", rss(
        item("Relative img", desc='<img src="pics/a.jpg" alt="rel">'),
        item("Relative thumb", extra='<media:thumbnail url="/pics/b.jpg"/>')),
        "relative image URLs in a local feed", "ok", 2)
    add("img-alt-quotes.xml", rss(
        item("Alt quotes", extra='<media:content url="https://ok.example/q.jpg" medium="image">'
                                 "<media:title>He said \"hi\" &amp; 'bye' &lt;b&gt;"
                                 "</media:title></media:content>"), item("Alt companion")),
        "quotes and markup in an image alt", "ok", 2)
    add("img-credit-html.xml", rss(
        item("Credit html", extra='<media:content url="https://ok.example/c.jpg" medium="image">'
                                  "<media:credit>&lt;a href=\"javascript:x\"&gt;Eve&lt;/a&gt; "
                                  "| Agency</media:credit><media:description>&lt;script&gt;"
                                  "alert(1)&lt;/script&gt;Caption</media:description>"
                                  "</media:content>"), item("Credit companion")),
        "markup in media:credit and media:description", "ok", 2)
    add("img-enclosure-not-image.xml", rss(
        item("Audio enclosure", extra='<enclosure url="https://ok.example/a.mp3" '
                                      'type="audio/mpeg" length="1"/>'),
        item("Exe enclosure", extra='<enclosure url="https://ok.example/x.exe.jpg" '
                                    'type="application/octet-stream" length="1"/>')),
        "non-image enclosures", "ok", 2)
    add("img-media-group.xml", rss(
        item("Group", extra='<media:group><media:content url="https://ok.example/g1.jpg" '
                            'medium="image"/><media:content url="javascript:alert(1)" '
                            'medium="image"/><media:title>Group title</media:title>'
                            "</media:group>"), item("Group companion")),
        "a media:group mixing a good and a javascript: image", "ok", 2)
    add("img-newline-url.xml", rss(
        item("Newline url", extra='<media:thumbnail url="https://ok.example/a\nb.jpg"/>'),
        item("Tab url", extra='<media:thumbnail url="\thttps://ok.example/t.jpg\t"/>')),
        "whitespace inside image URLs", "ok", 2)


def make_cases() -> list[Case]:
    """Every case, made afresh (the same bytes each time)."""
    global _serial
    CASES.clear()
    _serial = iter(range(1000, 1_000_000))
    for make in (sanitizer_cases, encoding_cases, control_cases, field_cases, date_cases,
                 link_cases, format_cases, broken_cases, placeholder_cases, bulk_cases,
                 media_cases):
        make()
    return list(CASES)


def write() -> None:
    make_cases()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    index = {}
    for case in CASES:
        (OUT / case.name).write_bytes(case.data)
        index[case.name] = {"about": case.about, "expect": case.expect,
                            **({"entries": case.entries} if case.entries is not None else {}),
                            **({"text": case.text} if case.text else {})}
    (OUT / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n",
                                    "utf-8")
    (OUT / "README.md").write_text(
        "# Feed corpus\n\n"
        "Small hostile and broken feeds, every one made by `tests/make_corpus.py`\n"
        "(`python3 tests/make_corpus.py` rewrites this folder; do not edit by hand).\n"
        "`index.json` says what each file tries and what `digest collect` must make of it.\n"
        "`tests/e2e/test_corpus.py` runs them all through collect, build --preview and build.\n",
        "utf-8")
    total = sum(len(c.data) for c in CASES)
    print(f"{len(CASES)} feeds, {total:,} bytes in {OUT}")


if __name__ == "__main__":
    write()
