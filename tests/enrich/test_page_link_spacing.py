"""Words in adjacent links of an article page keep the space between them, whatever the
links' addresses or the formatting around them (issue 22 #14: "one two" read "onetwo")."""

from __future__ import annotations

import pytest

from digest.collect.htmltext import html_text
from digest.enrich.pages import extract

LEAD = "<p>" + " ".join(f"Word{i} of the first paragraph of the story." for i in range(30)) \
    + "</p>"
END = "<p>" + " ".join(f"Closing{i} words of the last paragraph here." for i in range(30)) \
    + "</p>"


@pytest.mark.parametrize("links", [
    '<a href="javascript:x">one</a> <a href="/ok">two</a>',  # the bad href is dropped
    '<a href="javascript:x"><b>one</b></a> <a href="/ok">two</a>',
    '<b><a href="javascript:x">one</a></b> <a href="/ok">two</a>',
    '<a href="/one"><strong>one</strong></a> <a href="data:text/html,x">two</a>',
    '<em><a href="/one">one</a></em>\n<a href="/two">two</a>',
    '<b><i>one</i></b> <b>two</b>',
])
def test_adjacent_link_texts_keep_their_space(links: str) -> None:
    page = ("<html><head><title>Story</title></head><body><article><h1>Story</h1>"
            f"{LEAD}<p>Middle words come before x {links} y and the rest of the line.</p>"
            f"{END}</article></body></html>")
    facts = extract(page, "https://news.example/story")
    text = html_text(facts.body_html)
    assert "before x one two y and the rest" in text, text[:2000]
    assert "javascript" not in facts.body_html and "data:" not in facts.body_html
