"""Lint a built issue before it is sent: `digest check --issue PATH` on an issue folder
(outbox/<date>-<slug>-<n>/) or on outbox/preview/.

It reads what a recipient gets: message.eml, the first recipient's copy, which is made
by the same builder as every message `digest send` sends (placeholders filled in). If
message.eml has no HTML part, email.html is linted instead. Line numbers are those of
the HTML part, the same lines as email.html.

    check        level    finding
    files        error    issue.json, message.eml or another file of the folder is
                          missing or unreadable, or message.eml has no HTML part
    size         error    the HTML is over the clip: [layout] max_html_kb, or Gmail's
                          clip (about 100,000 bytes) when that is smaller (Gmail hides
                          the rest, footer and unsubscribe link included)
                 warning  the HTML is within 10% of the clip
    images       error    an <img> with no alt attribute (alt="" is fine: a decorative
                          picture, or one beside its headline), no src, or a width that
                          is missing or not a number of pixels ("100%": Outlook ignores it)
                 warning  a src that is not http(s) (file:, data:, relative): the picture
                          will not show in a mail client
    links        error    an href that is not an absolute http(s) URL, mailto: or #anchor
                          (javascript:, file:, a relative path, empty)
    active       error    a <script>, <iframe>, <form>, <object> or <embed> element, or
                          any on* attribute: mail clients strip them, spam filters count them
    text-part    error    message.eml has no text/plain part, or an empty one
    preheader    warning  the first text of the body is not a hidden preheader, so the
                          inbox shows the top bar's text instead
    headers      error    no Message-ID, Date or List-Unsubscribe header while
                          [delivery] mode = "smtp" (not checked for the outbox mode)
    line-length  error    a header line over 998 octets (RFC 5322), a quoted-printable or
                          base64 body line over 76 (RFC 2045), any other body line over 998

    lead, repeated, debris, glued, card-row, languages, undated
                 warning  what an editor would send back (digest.outbox.lint_editorial): a lead
                          without a picture or a story, a story twice, a feed's trailer
                          or words run together in the text, a card row out of line,
                          mixed languages, an undated story in a top slot

Errors make `digest check --issue` exit 1; warnings are printed only.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import lxml.html  # premailer's dependency, so always installed with digest
from lxml import etree

from digest.config.schema import Config
from digest.errors import OutboxError
from digest.outbox.folder import EML, HTML, TEMPLATE_HTML, TEMPLATE_TEXT, TEXT, IssueFolder
from digest.outbox.lint_editorial import editorial_findings
from digest.render.budget import GMAIL_CLIP, html_budget

NEAR_CLIP = 0.9  # within 10% of the clip: a warning
MAX_LINE = 998  # octets per line, RFC 5322 2.1.1
MAX_ENCODED_LINE = 76  # characters per quoted-printable or base64 line, RFC 2045
ACTIVE = ("script", "iframe", "form", "object", "embed")
SMTP_HEADERS = ("Message-ID", "Date", "List-Unsubscribe")
# Invisible characters the preheader pads itself with (render.PREHEADER_PADDING).
_BLANK = " \t\r\n\f\v\xa0\u034f\u200b\u200c\u200d\ufeff"
_HIDDEN = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_PIXELS = re.compile(r"^\s*\d+\s*$")


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    check: str  # see the table in the module docstring
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.check}: {self.message}"


def lint_issue(folder: Path, config: Config) -> list[Finding]:
    """Every finding in the issue folder, errors first. Raises OutboxError when `folder`
    is not a folder at all."""
    if not folder.is_dir():
        raise OutboxError(f"{folder} is not an issue folder; give outbox/<date>-<slug>-<n>/ "
                          "or outbox/preview/")
    findings = _files(folder)
    raw = _read(folder / EML)
    message = email.message_from_bytes(raw, policy=policy.compat32) if raw is not None \
        else None
    html = _html_part(message)
    if html is None:
        if message is not None:
            findings.append(Finding("error", "files", f"{folder / EML} has no text/html part: "
                                    "rebuild the issue"))
        copy = _read(folder / HTML)
        html = copy.replace(b"\r\n", b"\n") if copy is not None else None
    doc = None
    if html is not None:
        findings += _size(len(html), config)
        try:
            doc = lxml.html.document_fromstring(
                html, parser=lxml.html.HTMLParser(encoding="utf-8"))
        except (etree.ParserError, ValueError) as e:  # an empty part: "Document is empty"
            findings.append(Finding("error", "files", f"the HTML of {folder} cannot be read "
                                    f"({e}): rebuild the issue"))
    if doc is not None:
        findings += _images(doc)
        findings += _links(doc)
        findings += _active(doc)
        findings += _preheader(doc)
    text = _read(folder / TEXT)
    findings += [Finding("warning", check, message) for check, message in editorial_findings(
        folder, text.decode("utf-8", "replace") if text else "", doc)]
    if message is not None and raw is not None:
        findings += _text_part(message, folder / EML)
        if config.delivery.mode == "smtp":
            findings += _headers(message, folder / EML)
        findings += _line_lengths(raw, message, folder / EML)
    return sorted(findings, key=lambda f: f.level != "error")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _files(folder: Path) -> list[Finding]:
    found = []
    try:
        IssueFolder.open(folder)  # issue.json
    except OutboxError as e:
        found.append(Finding("error", "files", str(e)))
    for name in (EML, TEMPLATE_HTML, TEMPLATE_TEXT, HTML, TEXT):
        if not (folder / name).is_file():
            found.append(Finding("error", "files", f"{folder / name} is missing: restore the "
                                 "issue folder or rebuild the issue"))
    return found


def _html_part(message: Message | None) -> bytes | None:
    """The decoded HTML part, line ends as in email.html (LF), so its size is the one
    render measured."""
    for part in message.walk() if message is not None else ():
        if part.get_content_type() == "text/html" and not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.replace(b"\r\n", b"\n")
    return None


def _size(size: int, config: Config) -> list[Finding]:
    budget = html_budget(config)
    clip, name = (budget, f"[layout] max_html_kb = {config.layout.max_html_kb} "
                          f"({budget:,} bytes)") if budget <= GMAIL_CLIP \
        else (GMAIL_CLIP, f"Gmail's clip at about {GMAIL_CLIP:,} bytes")
    fix = ("show shorter stories ([layout] big_story_chars), fewer Read More cards or fewer "
           "blocks and rebuild; Gmail clips a longer HTML part and hides the rest, footer "
           "and unsubscribe link included")
    if size > clip:
        return [Finding("error", "size", f"the HTML is {size:,} bytes, over {name}: " + fix)]
    if size > clip * NEAR_CLIP:
        return [Finding("warning", "size", f"the HTML is {size:,} bytes, within 10% of "
                        f"{name}: a longer story may be clipped; " + fix)]
    return []


def _elements(doc: lxml.html.HtmlElement, *tags: str) -> list[lxml.html.HtmlElement]:
    return [el for el in doc.iter(*tags) if isinstance(el.tag, str)]


def _describe(el: lxml.html.HtmlElement) -> str:
    """`<img src="...">` (HTML line N): the element as a reader finds it in email.html."""
    key = next((a for a in ("src", "href", "action", "data", "name", "id", "class")
                if el.get(a) is not None), None)
    value = el.get(key) if key else None
    if value is not None and len(value) > 80:
        value = value[:77] + "..."
    attr = f' {key}="{value}"' if key else ""
    return f"<{el.tag}{attr}> (HTML line {el.sourceline})"


def _images(doc: lxml.html.HtmlElement) -> list[Finding]:
    found = []
    for img in _elements(doc, "img"):
        what = _describe(img)
        if img.get("alt") is None:
            found.append(Finding("error", "images", f"{what} has no alt attribute: give it "
                                 'alt="<what the picture shows>", or alt="" if it only '
                                 "decorates"))
        width = img.get("width")
        if width is None or not _PIXELS.match(width):
            has = "no width" if width is None else f'width="{width}"'
            found.append(Finding("error", "images", f"{what} has {has}: give a number of "
                                 'pixels (width="600"); Outlook ignores CSS and percentages '
                                 "and shows the picture at full size"))
        src = (img.get("src") or "").strip()
        if not src:
            found.append(Finding("error", "images", f"{what} has no src: remove the image "
                                 "or give it an https URL"))
        elif not _web_url(src):
            found.append(Finding("warning", "images", f"{what} is not an http(s) URL: the "
                                 "picture will not show in a mail client; serve it from a "
                                 "web server"))
    return found


def _web_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _links(doc: lxml.html.HtmlElement) -> list[Finding]:
    found = []
    for link in _elements(doc, "a", "area"):
        href = link.get("href")
        if href is None:
            continue
        href = href.strip()
        if _web_url(href) or (href.lower().startswith("mailto:") and len(href) > 7) \
                or (href.startswith("#") and len(href) > 1):
            continue
        found.append(Finding("error", "links", f"{_describe(link)} is not an absolute http(s) "
                             "link: mail clients have no page to resolve a relative link "
                             "against and block javascript: and file:; link to an https:// "
                             "URL (or mailto:)"))
    return found


def _active(doc: lxml.html.HtmlElement) -> list[Finding]:
    found = [Finding("error", "active", f"{_describe(el)}: remove it; mail clients strip "
                     f"<{el.tag}> and spam filters count it against the message")
             for el in _elements(doc, *ACTIVE)]
    for el in _elements(doc):
        for name in el.attrib:
            if name.lower().startswith("on"):
                found.append(Finding("error", "active", f"{_describe(el)} has an {name} "
                                     "attribute: remove it; mail clients run no scripts and "
                                     "spam filters count it against the message"))
    return found


def _preheader(doc: lxml.html.HtmlElement) -> list[Finding]:
    """The inbox shows the body's first text after the subject: it should be the hidden
    preheader, not the top bar's."""
    body = doc.find("body")
    first, text = None, ""
    if body is not None:
        for event, el in etree.iterwalk(body, events=("start", "end")):
            if event == "start":
                if not isinstance(el.tag, str) or el.tag in ("style", "script"):
                    continue
                text, owner = el.text, el
            elif el is body:
                break
            else:
                text, owner = el.tail, el.getparent()
            if text and text.strip(_BLANK):
                first = owner
                break
    if first is not None and any(_HIDDEN.search(e.get("style") or "")
                                 for e in (first, *first.iterancestors())):
        return []
    shown = "the body has no text"
    if first is not None:
        words = " ".join((text or "").split())
        shown = f'"{words[:40]}" in {_describe(first)} comes first'
    return [Finding("warning", "preheader", f"no hidden preheader at the top of the HTML "
                    f"({shown}): the inbox previews that text instead; keep \"preheader\" "
                    "first in [layout] blocks")]


def _text_part(message: Message, eml: Path) -> list[Finding]:
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload.decode("utf-8", "replace").strip():
                return []
            return [Finding("error", "text-part", f"{eml}: the text/plain part is empty: check "
                            "the text template (issue.txt.j2) and rebuild the issue")]
    return [Finding("error", "text-part", f"{eml} has no text/plain part: HTML-only mail "
                    "reads badly in text clients and scores worse with spam filters; rebuild "
                    "the issue")]


def _headers(message: Message, eml: Path) -> list[Finding]:
    found = []
    for name in SMTP_HEADERS:
        if (message.get(name) or "").strip():
            continue
        fix = ("set [delivery] unsubscribe_url or unsubscribe_mailto and rebuild the issue "
               "(Gmail and Yahoo require it of bulk senders)" if name == "List-Unsubscribe"
               else "rebuild the issue")
        found.append(Finding("error", "headers", f"{eml} has no {name} header, which "
                             f'[delivery] mode = "smtp" needs: {fix}'))
    return found


def _line_lengths(raw: bytes, message: Message, eml: Path) -> list[Finding]:
    found = []
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    name = "(before the first header)"
    for line in re.split(rb"\r?\n", head):
        if line[:1] not in (b" ", b"\t"):
            name = line.split(b":", 1)[0].decode("ascii", "replace")
        if len(line) > MAX_LINE:
            found.append(Finding("error", "line-length", f"{eml}: a line of the {name} header "
                                 f"is {len(line)} octets, over RFC 5322's {MAX_LINE}: servers "
                                 "may reject or break the message; fold the header or "
                                 "shorten its value, and rebuild"))
    for part in message.walk():
        if part.is_multipart():
            continue
        encoding = (part.get("Content-Transfer-Encoding") or "7bit").strip().lower()
        limit = MAX_ENCODED_LINE if encoding in ("quoted-printable", "base64") else MAX_LINE
        payload = part.get_payload()
        lines = payload.splitlines() if isinstance(payload, str) else []
        long = [i for i, line in enumerate(lines, 1) if len(line) > limit]
        if long:
            found.append(Finding("error", "line-length", f"{eml}: the {part.get_content_type()} "
                                 f"part ({encoding}) has {len(long)} line(s) over {limit} "
                                 f"characters (the first: line {long[0]} of the part, "
                                 f"{len(lines[long[0] - 1])} long): re-encode it (rebuild the "
                                 "issue)"))
    return found
