"""The big story keeps its structure (issue 10, item 8): subheads, lists, quotes, links
and photos with caption and credit, rebuilt from escaped text, within the length limit."""

from __future__ import annotations

from pathlib import Path

import lxml.html

from digest.render.story import story_blocks
from tests.helpers import BASE_CONFIG, ENGLISH_ITEMS, build_preview, item, run

BODY = """<p>Opening with <strong>weight</strong>, <em>stress</em> and
<a href="https://example.com/a?x=1&amp;y=2">a link</a>.</p>
<h3>Perfect timing?</h3>
<ul><li>first point</li><li>second <a href="javascript:alert(1)">point</a></li></ul>
<ol><li>step one</li><li>step two</li></ol>
<blockquote><p>A quoted line.</p><p>And another.</p></blockquote>
<figure><img src="https://img.example.com/port.jpg" alt="Cranes over a port">
<figcaption>Cranes at dusk. Jane Doe | Harbour Pictures</figcaption></figure>
<p>Closing words with &lt;script&gt;alert(1)&lt;/script&gt; and {{ config }} and
%%digest:0123456789abcdef01234567:email%% in them.</p>"""


def test_blocks_keep_the_structure_and_nothing_else() -> None:
    blocks = story_blocks(BODY, "summary", 2000, "color:#005594;")
    assert [b.kind for b in blocks] == ["p", "h", "ul", "ol", "quote", "figure", "p"]
    first = blocks[0]
    assert str(first.html) == ('Opening with <strong>weight</strong>, <em>stress</em> and '
                               '<a href="https://example.com/a?x=1&amp;y=2" '
                               'style="color:#005594;">a link</a>.')
    assert first.text == "Opening with weight, stress and a link."
    assert blocks[1].text == "Perfect timing?"
    assert [text for _, text in blocks[2].items] == ["first point", "second point"]
    assert "javascript" not in str(blocks[2].items[1][0])
    assert [text for _, text in blocks[3].items] == ["step one", "step two"]
    assert str(blocks[4].html) == "A quoted line.<br>And another."
    figure = blocks[5]
    assert (figure.src, figure.alt, figure.caption, figure.credit) == (
        "https://img.example.com/port.jpg", "Cranes over a port", "Cranes at dusk",
        "Jane Doe | Harbour Pictures")
    last = str(blocks[6].html)
    assert "&lt;script&gt;" in last and "<script" not in last
    assert "{{ config }}" in last  # text, never a template


def test_the_limit_counts_text_and_cuts_a_paragraph_at_a_word() -> None:
    body = "<p>" + "alpha " * 60 + "</p><h3>Sub</h3><p>" + "beta " * 100 + "</p>"
    blocks = story_blocks(body, "", 500, "")
    assert [b.kind for b in blocks] == ["p", "h", "p"]
    assert blocks[-1].text.endswith("beta…")
    assert sum(len(b.text) for b in blocks) <= 500 + 1
    # A subhead with nothing after it is not left hanging at the end.
    blocks = story_blocks("<p>" + "alpha " * 80 + "</p><h3>Sub</h3><p>more</p>", "", 480, "")
    assert [b.kind for b in blocks] == ["p"]


def test_a_story_without_a_body_is_its_summary() -> None:
    blocks = story_blocks("", "Only the summary & no more.", 900, "")
    assert [(b.kind, b.text, str(b.html)) for b in blocks] == [
        ("p", "Only the summary & no more.", "Only the summary &amp; no more.")]


def test_the_issue_shows_subheads_lists_quotes_and_photos(tmp_path: Path) -> None:
    story = item(0, "Ports race to keep up with the year-end rush", "Summary.",
                 BODY.replace("]]>", ""), "Trade").replace(
        "</item>", '<media:content xmlns:media="http://search.yahoo.com/mrss/" '
        'url="https://img.example.com/lead.jpg" medium="image"/></item>')
    html, text, _ = build_preview(tmp_path, [story, *ENGLISH_ITEMS[1:6]],
                                  extra="[layout]\nbig_story_chars = 2000\n")
    doc = lxml.html.fromstring(html)
    assert [h.text_content() for h in doc.iter("h4")] == ["Perfect timing?"]
    assert [li.text_content() for li in doc.iter("li")][:4] == [
        "first point", "second point", "step one", "step two"]
    assert doc.xpath("//blockquote")[0].text_content() == "A quoted line.And another."
    (photo,) = [i for i in doc.iter("img") if i.get("src") == "https://img.example.com/port.jpg"]
    assert photo.get("alt") == "Cranes over a port"
    assert "Jane Doe | Harbour Pictures" in html
    assert not doc.xpath("//script") and "javascript:" not in html
    assert "PERFECT TIMING?" in text
    assert " - first point" in text and " 1. step one" in text
    assert "  > A quoted line. And another." in text
    assert "[Photo: Cranes at dusk]" in text and "[Jane Doe | Harbour Pictures]" in text


def test_the_bundled_sample_big_story_has_its_subhead(tmp_path: Path) -> None:
    assert run(None, "init", str(tmp_path / "news")).exit_code == 0
    config = tmp_path / "news" / "config.toml"
    result = run(config, "build", "--preview", env={"DIGEST_NOW": "2026-11-30T08:00:00+00:00"})
    assert result.exit_code == 0, result.output
    html = (tmp_path / "news" / "outbox" / "preview" / "email.html").read_text("utf-8")
    assert "Why now?" in html  # a subhead from the bundled page of a summary-only story
    assert BASE_CONFIG  # the same base config as the markup tests
