"""An article page is read by an HTML parser, never by regexes over its markup (issue 22
#2): 40,000 unclosed <script>s took 54 s of CPU at 320 KB (a regex stripping scripts was
quadratic), and a "<script>" inside a meta's content swallowed the page. Timings of the
two sizes side by side: bench/bench_page_markup.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from digest.enrich.pages import extract
from tests.helpers import ROOT

ARTICLE = ("<article><h1>Port volumes</h1>"
           + "".join(f"<p>Paragraph {i} of the story says what the port handled in November, "
                     f"and why shippers expect more in December and after.</p>"
                     for i in range(6))
           + "</article>")

# The page read in a child process, so that a page that takes minutes (the old regex)
# fails the test instead of stalling it. The bound is hundreds of times what it takes.
READ = """
import json, sys
from digest.enrich.pages import extract
size, article = int(sys.argv[1]), sys.argv[2]
head = '<html><head><meta property="og:image" content="https://img.example/a.jpg"></head>'
page = head + '<body>' + article + '<script>' * size + '</body></html>'
facts = extract(page, 'https://news.example/story')
print(json.dumps({'length': len(page), 'body': facts.body_html, 'image': facts.image}))
"""
BOUND = 60.0  # seconds, for what takes well under one


def _read_in_child(scripts: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", READ, str(scripts), ARTICLE], env=env,
                          capture_output=True, text=True, timeout=BOUND, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_forty_thousand_unclosed_scripts_are_read_in_linear_time() -> None:
    for scripts, size in ((40_000, 320_000), (375_000, 3_000_000)):
        result = _read_in_child(scripts)
        assert result["length"] >= size  # 320 KB, then 3 MB of "<script>"
        body = str(result["body"])
        # As in a browser: the first unclosed <script> runs to the end of the page; the
        # story before it is the page's text.
        assert "Paragraph 0 of the story" in body and "Paragraph 5 of the story" in body
        assert "script" not in body
        assert result["image"] == "https://img.example/a.jpg"


def test_a_script_tag_in_a_meta_content_is_text_and_keeps_the_page() -> None:
    page = ('<html><head><meta name="description" content="How <script> tags work">'
            '<meta property="og:image" content="https://img.example/lead.jpg">'
            '<meta name="author" content="Mei Tan"></head>'
            f"<body>{ARTICLE}<script>var x = 1;</script></body></html>")
    facts = extract(page, "https://news.example/story")
    assert facts.image == "https://img.example/lead.jpg"
    assert facts.author == "Mei Tan"
    assert "Paragraph 0 of the story" in facts.body_html
    assert "Paragraph 5 of the story" in facts.body_html
    assert "var x" not in facts.body_html


def test_scripts_styles_and_svg_text_never_reach_the_body() -> None:
    page = ("<html><head><style>p { color: red }</style></head><body><article>"
            "<h1>Port volumes</h1><p>Paragraph 0 of the story says what the port handled in "
            "November, and why shippers expect more.</p>"
            "<svg><text>chart label</text></svg><noscript>enable scripts</noscript>"
            "<script>document.write('injected words')</script>"
            + "".join(f"<p>Paragraph {i} goes on about volumes, prices and the season's "
                      "outlook for the shippers.</p>" for i in range(1, 6))
            + "</article></body></html>")
    facts = extract(page, "https://news.example/story")
    assert "Paragraph 0 of the story" in facts.body_html and "Paragraph 5" in facts.body_html
    for leaked in ("color: red", "chart label", "enable scripts", "injected words"):
        assert leaked not in facts.body_html
