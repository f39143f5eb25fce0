"""premailer paid for once (issue 19 item 3): digest.render.inline keeps cssutils' answers
(in the process and in .digest/templates-cache/) and parses a picture's style only when
it can name `float`; its output must be premailer's own, byte for byte.

The reference is plain premailer with the options digest used before, run in a fresh
interpreter that never imports digest (so none of its memo or patches), on the same
MJML output: the sample issue, the real-shape fixtures and a hostile issue (feed text
that looks like CSS and markup; an editor's template with floats, escapes, comments,
!important, pseudo-classes, attribute selectors and an unparsable rule)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from digest.collect.parse import parse_feed
from digest.config.load import load_config
from digest.config.schema import Config
from digest.curate.place import curate_issue
from digest.models import CuratedIssue
from digest.render import email as render_email
from digest.render.inline import inline_css
from tests.helpers import NOW_UTC, SAMPLES, config_with, feed, item
from tests.real_shapes import FOLDER as SHAPES

REFERENCE = """
import logging, sys
from premailer import Premailer
for path in sys.argv[1:]:
    html = open(path, encoding="utf-8").read()
    out = Premailer(html, keep_style_tags=True, strip_important=False, allow_network=False,
                    disable_validation=True, remove_classes=False,
                    disable_basic_attributes=["width", "height"],
                    cssutils_logging_level=logging.CRITICAL).transform(pretty_print=False)
    open(path + ".premailer", "w", encoding="utf-8").write(out)
"""

HOSTILE_ITEMS = [
    item(0, "img { float: right } </style><style>a{color:red}</style>",
         'Text with style="float:left" and \\66 loat and /* a comment */ in it.',
         '<p style="float:right;color:red">A paragraph <img src="https://x.example/a.jpg"'
         ' style="float:left" width="300" height="200"> with a picture.</p>'
         "<p>{}; } @media all { td { color: red } } <!-- --></p>", "a{b:c}"),
    *[item(i, f"Story {i}: {{color:red}} ; }} body {{ display:none }}",
           "A summary that says a little more about the story. " * 4, category=";}{")
      for i in range(1, 9)],
]

HOSTILE_TEMPLATE = """{% extends "digest/issue.mjml.j2" %}
{% block styles %}
  img.floaty { float: right; }
  .Floaty IMG { FLOAT: left !important; }
  td > p:first-child { color: #FFFFFF; margin: 0px 0px 0px 0px; }
  a:hover { color: red; }
  p::before { content: "x;y"; }
  [class~="dm-muted"] div { font: italic bold 12px/30px Georgia, serif; }
  td { background: url("data:image/png;base64,AAAA;x") no-repeat; }
  .broken { color: ; }
  @font-face { font-family: X; src: url(x.woff); }
  /* a comment } with a brace */
  .escaped\\:name, #id\\31 23 { padding: 1.50em .5em 0.0px; }
{% endblock %}
{% block head %}
  <mj-raw><img class="floaty" src="https://x.example/b.jpg" style="width:10px;Fl\\6f at: left"></mj-raw>
{% endblock %}
"""


def _mjml_output(issue: CuratedIssue, config: Config) -> str:
    """What MJML makes of the issue: the HTML premailer is given."""
    import mjml

    templates = render_email.load_templates(config)
    context = render_email._context(issue, config, "0" * 24)
    source = render_email._render(templates.html, context)
    html: str = mjml.mjml2html(source, disable_comments=True, fonts={})
    return html


def _issue(config: Config, feeds: dict[str, bytes]) -> CuratedIssue:
    articles = []
    by_url = {f.url: f for f in config.feeds}
    for url, data in feeds.items():
        articles.extend(parse_feed(data, by_url[url], url))
    issue = curate_issue(articles, config, 1, NOW_UTC)
    assert isinstance(issue, CuratedIssue), issue
    return issue


def _sample(tmp_path: Path) -> str:
    feeds = {f"{SAMPLES.as_uri()}/feeds/{p.name}": p.read_bytes()
             for p in sorted((SAMPLES / "feeds").iterdir())}
    config = load_config(config_with(tmp_path, [{"url": u, "name": u.rsplit("/", 1)[1]}
                                                for u in feeds],
                                     editor='languages = ["*"]'))
    return _mjml_output(_issue(config, feeds), config)


def _shapes(tmp_path: Path) -> str:
    feeds = {p.as_uri(): p.read_bytes() for p in sorted(SHAPES.iterdir())
             if p.suffix in (".xml", ".rdf", ".atom")}
    config = load_config(config_with(tmp_path, [{"url": u, "name": u.rsplit("/", 1)[1]}
                                                for u in feeds],
                                     editor='languages = ["*"]'))
    return _mjml_output(_issue(config, feeds), config)


def _hostile(tmp_path: Path) -> str:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "issue.mjml.j2").write_text(HOSTILE_TEMPLATE, "utf-8")
    url = "https://hostile.example/feed.xml"
    config = load_config(config_with(
        tmp_path, [{"url": url, "name": "Hostile </style>"}],
        '[layout]\ntemplates_dir = "mine"\n', editor='languages = ["*"]'))
    issue = _issue(config, {url: feed(HOSTILE_ITEMS).encode()})
    return _mjml_output(replace(issue, note="A note with `code`; } {"), config)


ISSUES = {"sample": _sample, "shapes": _shapes, "hostile": _hostile}


def _premailer(tmp_path: Path, htmls: dict[str, str]) -> dict[str, str]:
    """Plain premailer's output for each HTML, from a fresh interpreter."""
    paths = []
    for name, html in htmls.items():
        path = tmp_path / f"{name}.html"
        path.write_text(html, "utf-8")
        paths.append(str(path))
    subprocess.run([sys.executable, "-c", REFERENCE, *paths], check=True, timeout=120)
    return {name: (tmp_path / f"{name}.html.premailer").read_text("utf-8") for name in htmls}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Each issue's MJML output and plain premailer's transform of it."""
    htmls = {name: make(tmp_path_factory.mktemp(name)) for name, make in ISSUES.items()}
    reference = _premailer(tmp_path_factory.mktemp("premailer"), htmls)
    return {name: (htmls[name], reference[name]) for name in htmls}


@pytest.mark.parametrize("name", sorted(ISSUES))
def test_the_same_bytes_as_premailer(outputs: dict[str, tuple[str, str]], name: str,
                                     tmp_path: Path) -> None:
    html, expected = outputs[name]
    assert inline_css(html, None) == expected  # parsed now, or from this process's memo
    assert inline_css(html, None) == expected  # from the memo
    folder = tmp_path / "templates-cache"
    assert inline_css(html, folder) == expected  # written to the folder
    assert list(folder.glob("premailer-*.json"))


def test_the_hostile_issue_exercises_what_it_should(outputs) -> None:
    html, expected = outputs["hostile"]
    assert 'align="right"' in expected and 'align="left"' in expected  # floats seen
    assert "</style><style>" not in html  # feed text stayed text
    assert "FLOAT: left !important" in html


PROBE = """
import json, sys
from pathlib import Path
import cssutils
calls = []
for name in ("parseString", "parseStyle"):
    def counted(*args, _f=getattr(cssutils, name), _name=name, **kwargs):
        calls.append(_name)
        return _f(*args, **kwargs)
    setattr(cssutils, name, counted)
from digest.render.inline import inline_css
html = Path(sys.argv[1]).read_text("utf-8")
out = inline_css(html, Path(sys.argv[2]))
print(json.dumps({"same": out == Path(sys.argv[3]).read_text("utf-8"), "calls": len(calls)}))
"""


def _fresh_process(tmp_path: Path, html: str, expected: str, folder: Path) -> dict:
    (tmp_path / "in.html").write_text(html, "utf-8")
    (tmp_path / "expected.html").write_text(expected, "utf-8")
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "in.html"),
                           str(folder), str(tmp_path / "expected.html")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_next_process_parses_no_css(outputs, tmp_path: Path) -> None:
    html, expected = outputs["sample"]
    folder = tmp_path / "templates-cache"
    first = _fresh_process(tmp_path, html, expected, folder)
    assert first["same"] and first["calls"] > 20
    assert _fresh_process(tmp_path, html, expected, folder) == {"same": True, "calls": 0}


@pytest.mark.parametrize("damage", [
    b"", b"\x00\xff not json", b"[]", b'{"pairs": [], "rules": {}}',
    b'{"pairs": {"color:red": [[1]]}, "rules": []}',
    b'{"pairs": {}, "rules": [[0, "td {}", [[["x"], "td", "color:red"]]]]}',
])
def test_a_damaged_file_is_parsed_again(outputs, tmp_path: Path, damage: bytes) -> None:
    html, expected = outputs["sample"]
    folder = tmp_path / "templates-cache"
    _fresh_process(tmp_path, html, expected, folder)
    [kept] = folder.glob("premailer-*.json")
    kept.write_bytes(damage)
    assert _fresh_process(tmp_path, html, expected, folder)["same"]


def test_a_folder_that_cannot_be_made_is_skipped(outputs, tmp_path: Path) -> None:
    html, expected = outputs["sample"]
    (tmp_path / "templates-cache").write_text("not a folder")
    assert _fresh_process(tmp_path, html, expected, tmp_path / "templates-cache")["same"]
    missing_parent = tmp_path / "no-state-folder" / "templates-cache"
    assert _fresh_process(tmp_path, html, expected, missing_parent)["same"]
    assert not missing_parent.parent.exists()  # the state folder is never made here


def test_a_folder_others_may_write_is_never_read(outputs, tmp_path: Path) -> None:
    html, expected = outputs["sample"]
    folder = tmp_path / "templates-cache"
    _fresh_process(tmp_path, html, expected, folder)
    folder.chmod(0o777)
    second = _fresh_process(tmp_path, html, expected, folder)
    assert second["same"] and second["calls"] > 20
