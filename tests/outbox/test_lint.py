"""`digest check --issue PATH`: the issue `digest init` builds passes; then each check
fires on a copy of it with one thing broken, and only that finding is added."""

from __future__ import annotations

import binascii
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result

from digest.config.load import load_config
from digest.deliver.message import qp_lines
from digest.outbox.lint import Finding, lint_issue
from tests.helpers import NOW_UTC_ISO, run

ENV: dict[str, str | None] = {"DIGEST_NOW": NOW_UTC_ISO, "DIGEST_SECRET": None,
                              "DIGEST_CONFIG": None}
HTML_HEAD = (b'Content-Type: text/html; charset="utf-8"\r\n'
             b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
TEXT_HEAD = (b'Content-Type: text/plain; charset="utf-8"\r\n'
             b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")


@dataclass(frozen=True)
class Sample:
    config: Path
    issue: Path
    preview: Path
    baseline: tuple[str, ...]  # the issue's own findings


def lint(folder: Path, config: Path) -> Result:
    return run(config, "check", "--issue", str(folder), env=ENV)


def findings(result: Result, folder: Path) -> list[str]:
    """The finding lines, the folder's path spelled ISSUE."""
    return [line.replace(str(folder), "ISSUE") for line in result.stderr.splitlines()
            if line.startswith(("error:", "warning:"))]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """`digest init`, then a preview and issue #1 built through the CLI."""
    project = tmp_path_factory.mktemp("lint") / "news"
    done = run(None, "init", str(project), env=ENV)
    assert done.exit_code == 0, done.output
    config = project / "config.toml"
    for args in (["build", "--preview"], ["build"]):
        done = run(config, *args, env=ENV)
        assert done.exit_code == 0, done.output
    issue = project / "outbox" / "2026-11-30-my-newsletter-1"
    return Sample(config, issue, project / "outbox" / "preview",
                  tuple(findings(lint(issue, config), issue)))


@pytest.fixture
def issue(sample: Sample, tmp_path: Path) -> Path:
    """A copy of issue #1 to break."""
    return Path(shutil.copytree(sample.issue, tmp_path / "issue"))


def added(sample: Sample, folder: Path, config: Path | None = None) -> tuple[Result, list[str]]:
    """Lint `folder`; the findings the good issue does not have."""
    result = lint(folder, config or sample.config)
    return result, [line for line in findings(result, folder) if line not in sample.baseline]


def config_with(sample: Sample, tmp_path: Path, pattern: str, new: str) -> Path:
    """The sample's config with `pattern` replaced, in tmp_path beside a copy of the
    samples it names."""
    text, found = re.subn(pattern, new, sample.config.read_text("utf-8"), count=1, flags=re.M)
    assert found, pattern
    shutil.copytree(sample.config.parent / "samples", tmp_path / "samples")
    path = tmp_path / "config.toml"
    path.write_text(text, "utf-8")
    return path


def budget(sample: Sample, tmp_path: Path, kb: int) -> Path:
    return config_with(sample, tmp_path, r"^# max_html_kb = \d+", f"max_html_kb = {kb}")


def edit_html(folder: Path, change: Callable[[str], str]) -> None:
    """Change the HTML part of message.eml (decoded) and encode it again."""
    eml = (folder / "message.eml").read_bytes()
    head, found, rest = eml.partition(HTML_HEAD)
    assert found
    body, boundary, close = rest.rpartition(b"--=_digest_")
    # The CRLF before the boundary belongs to the boundary, not to the HTML.
    html = binascii.a2b_qp(body).decode().replace("\r\n", "\n").removesuffix("\n")
    changed = change(html)
    assert changed != html, "the edit did not apply"
    (folder / "message.eml").write_bytes(head + HTML_HEAD + qp_lines(changed) + boundary + close)


def before_body_end(snippet: str) -> Callable[[str], str]:
    return lambda html: html.replace("</body>", snippet + "</body>", 1)


def edit_eml(folder: Path, change: Callable[[bytes], bytes]) -> None:
    eml = (folder / "message.eml").read_bytes()
    changed = change(eml)
    assert changed != eml, "the edit did not apply"
    (folder / "message.eml").write_bytes(changed)


# The good issue


@pytest.mark.parametrize("which", ["issue", "preview"])
def test_the_sample_issue_has_no_errors(sample: Sample, which: str) -> None:
    folder = getattr(sample, which)
    result = lint(folder, sample.config)
    lines = findings(result, folder)
    assert [line for line in lines if line.startswith("error:")] == []
    assert result.exit_code == 0, result.output
    # The bundled samples' pictures are local files: the one warning they may give.
    for line in lines:
        assert re.fullmatch(r'warning: images: <img src="file:///[^"]+"> \(HTML line \d+\) '
                            r"is not an http\(s\) URL: .*", line), line
    summary = f"0 error(s), {len(lines)} warning(s)" if lines else "ok"
    assert result.stdout == f"{folder}: {summary}\n"


def test_lint_issue_returns_findings_errors_first(sample: Sample, issue: Path) -> None:
    edit_html(issue, lambda html: re.sub(r'(<img\b[^>]*?) alt="[^"]*"', r"\1", html, count=1))
    edit_html(issue, lambda html: re.sub(r'<div[^>]*style="display:none[^>]*>.*?</div>', "",
                                         html, count=1, flags=re.S))
    found = lint_issue(issue, load_config(sample.config))
    levels = [f.level for f in found]
    assert levels == sorted(levels)  # "error" < "warning"
    assert any(f.check == "images" and "has no alt attribute" in f.message for f in found)
    assert str(Finding("error", "links", "x")) == "error: links: x"


# images


def test_an_image_without_width_is_an_error(sample: Sample, issue: Path) -> None:
    edit_html(issue, lambda html: re.sub(r'(<img\b[^>]*?) width="[^"]*"', r"\1", html, count=1))
    result, new = added(sample, issue)
    assert len(new) == 1 and re.fullmatch(
        r'error: images: <img src="[^"]+"> \(HTML line \d+\) has no width: give a number of '
        r'pixels \(width="600"\); .*', new[0]), new
    assert result.exit_code == 1


def test_an_image_with_a_percentage_width_is_an_error(sample: Sample, issue: Path) -> None:
    edit_html(issue, lambda html: re.sub(r'(<img\b[^>]*?) width="[^"]*"', r'\1 width="50%"',
                                         html, count=1))
    result, new = added(sample, issue)
    assert len(new) == 1 and 'has width="50%": give a number of pixels' in new[0], new
    assert result.exit_code == 1


def test_no_alt_is_an_error_but_an_empty_alt_is_fine(sample: Sample, issue: Path) -> None:
    def alts(html: str) -> str:
        html = re.sub(r'(<img\b[^>]*?) alt="[^"]*"', r'\1 alt=""', html, count=1)
        first = html.index('alt=""') + 1
        return html[:first] + re.sub(r'(<img\b[^>]*?) alt="[^"]*"', r"\1", html[first:], count=1)

    edit_html(issue, alts)
    result, new = added(sample, issue)
    assert len(new) == 1 and re.fullmatch(
        r'error: images: <img src="[^"]+"> \(HTML line \d+\) has no alt attribute: .*', new[0])
    assert result.exit_code == 1


def test_an_image_without_src_is_an_error(sample: Sample, issue: Path) -> None:
    edit_html(issue, before_body_end('<img alt="" width="10">'))
    result, new = added(sample, issue)
    assert len(new) == 1 and re.fullmatch(r"error: images: <img> \(HTML line \d+\) has no src: "
                                          r"remove the image or give it an https URL", new[0])
    assert result.exit_code == 1


# links


@pytest.mark.parametrize("href", ["javascript:alert(1)", "/archive/1", "file:///etc/passwd",
                                  "", "http://", "news.example.com/x"])
def test_a_link_that_is_not_absolute_http_is_an_error(sample: Sample, issue: Path,
                                                      href: str) -> None:
    edit_html(issue, before_body_end(f'<a href="{href}">archive</a>'))
    result, new = added(sample, issue)
    assert len(new) == 1 and re.fullmatch(
        rf'error: links: <a href="{re.escape(href)}"> \(HTML line \d+\) is not an absolute '
        r"http\(s\) link: .*", new[0]), new
    assert result.exit_code == 1


def test_mailto_anchors_and_https_links_are_fine(sample: Sample, issue: Path) -> None:
    edit_html(issue, before_body_end('<a href="mailto:editor@example.com">write</a>'
                                     '<a href="#top">top</a>'
                                     '<a href="HTTPS://Example.com/a?b=c">more</a>'))
    assert added(sample, issue)[1] == []


# scripts, frames, forms


@pytest.mark.parametrize("snippet", [
    '<script src="https://evil.example/x.js"></script>',
    '<iframe src="https://video.example/embed/1"></iframe>',
    '<form action="https://poll.example/vote"><input name="q"></form>',
    '<object data="https://flash.example/x.swf"></object>',
])
def test_active_content_is_an_error(sample: Sample, issue: Path, snippet: str) -> None:
    tag = snippet[1:snippet.index(" ")]
    edit_html(issue, before_body_end(snippet))
    result, new = added(sample, issue)
    assert len(new) == 1 and new[0].startswith(f"error: active: <{tag} ") \
        and f"mail clients strip <{tag}>" in new[0], new
    assert result.exit_code == 1


def test_an_on_attribute_is_an_error(sample: Sample, issue: Path) -> None:
    edit_html(issue, lambda html: html.replace('<a href="https://', '<a onclick="track()" '
                                               'href="https://', 1))
    result, new = added(sample, issue)
    assert len(new) == 1 and re.fullmatch(
        r'error: active: <a href="https://[^"]+"> \(HTML line \d+\) has an onclick attribute: '
        r"remove it; .*", new[0]), new
    assert result.exit_code == 1


# the text part and the preheader


def test_a_message_without_text_part_is_an_error(sample: Sample, issue: Path) -> None:
    def drop_text(eml: bytes) -> bytes:
        start = eml.index(TEXT_HEAD)
        start = eml.rindex(b"--=_digest_", 0, start)
        end = eml.index(b"--=_digest_", start + 1)
        return eml[:start] + eml[end:]

    edit_eml(issue, drop_text)
    result, new = added(sample, issue)
    assert new == ["error: text-part: ISSUE/message.eml has no text/plain part: HTML-only "
                   "mail reads badly in text clients and scores worse with spam filters; "
                   "rebuild the issue"]
    assert result.exit_code == 1


def test_an_empty_text_part_is_an_error(sample: Sample, issue: Path) -> None:
    def empty_text(eml: bytes) -> bytes:
        head, found, rest = eml.partition(TEXT_HEAD)
        return head + found + b"\r\n" + rest[rest.index(b"--=_digest_"):]

    edit_eml(issue, empty_text)
    result, new = added(sample, issue)
    assert new == ["error: text-part: ISSUE/message.eml: the text/plain part is empty: check "
                   "the text template (issue.txt.j2) and rebuild the issue"]
    assert result.exit_code == 1


def test_a_missing_preheader_is_a_warning(sample: Sample, issue: Path) -> None:
    edit_html(issue, lambda html: re.sub(r'<div[^>]*style="display:none[^>]*>.*?</div>', "",
                                         html, count=1, flags=re.S))
    result, new = added(sample, issue)
    assert len(new) == 1 and new[0].startswith("warning: preheader: no hidden preheader at "
                                               "the top of the HTML ("), new
    assert 'keep "preheader" first in [layout] blocks' in new[0]
    assert result.exit_code == 0, result.output


# size


def pad_to(size: int) -> Callable[[str], str]:
    """Pad the HTML to `size` bytes with a paragraph before </body>."""
    def pad(html: str) -> str:
        return before_body_end("<p>" + "x" * (size - len(html.encode()) - 7) + "</p>")(html)

    return pad


def test_html_over_the_budget_is_an_error(sample: Sample, issue: Path, tmp_path: Path) -> None:
    edit_html(issue, pad_to(82_000))
    result, new = added(sample, issue, budget(sample, tmp_path, 80))
    assert new == ["error: size: the HTML is 82,000 bytes, over [layout] max_html_kb = 80 "
                   "(81,920 bytes): show shorter stories ([layout] big_story_chars), fewer "
                   "Read More cards or fewer blocks and rebuild; Gmail clips a longer HTML part "
                   "and hides the rest, footer and unsubscribe link included"]
    assert result.exit_code == 1


def test_html_within_ten_percent_of_the_budget_is_a_warning(sample: Sample, issue: Path,
                                                            tmp_path: Path) -> None:
    edit_html(issue, pad_to(76_800))
    result, new = added(sample, issue, budget(sample, tmp_path, 80))
    assert len(new) == 1 and new[0].startswith(
        "warning: size: the HTML is 76,800 bytes, within 10% of [layout] max_html_kb = 80 "
        "(81,920 bytes): a longer story may be clipped; "), new
    assert result.exit_code == 0, result.output


def test_a_budget_over_gmails_clip_still_errs_at_the_clip(sample: Sample, issue: Path,
                                                          tmp_path: Path) -> None:
    edit_html(issue, pad_to(101_000))
    result, new = added(sample, issue, budget(sample, tmp_path, 200))
    assert len(new) == 1 and new[0].startswith(
        "error: size: the HTML is 101,000 bytes, over Gmail's clip at about 100,000 bytes: "), new
    assert result.exit_code == 1


# headers and lines


@pytest.mark.parametrize("header", ["Message-ID", "Date", "List-Unsubscribe"])
def test_smtp_delivery_needs_each_header(sample: Sample, issue: Path, tmp_path: Path,
                                         header: str) -> None:
    smtp = config_with(sample, tmp_path, r'^mode = "outbox"', 'mode = "smtp"')
    assert added(sample, issue, smtp)[1] == []  # the good issue has them all
    edit_eml(issue, lambda eml: re.sub(rb"\r\n" + header.encode() + rb":[^\r]*", b"", eml,
                                       count=1))
    result, new = added(sample, issue, smtp)
    assert len(new) == 1 and new[0].startswith(
        f"error: headers: ISSUE/message.eml has no {header} header, which [delivery] mode = "
        '"smtp" needs: '), new
    assert result.exit_code == 1
    outbox = lint(issue, sample.config)  # the outbox mode does not ask for them
    assert not any(line.startswith("error: headers:") for line in findings(outbox, issue))


@pytest.mark.parametrize(("octets", "error"), [(998, False), (1000, True)])
def test_a_header_line_over_998_octets_is_an_error(sample: Sample, issue: Path, octets: int,
                                                   error: bool) -> None:
    line = b"X-Campaign: " + b"a" * (octets - len(b"X-Campaign: "))
    edit_eml(issue, lambda eml: eml.replace(b"\r\n", b"\r\n" + line + b"\r\n", 1))
    result, new = added(sample, issue)
    if not error:
        assert new == []
        return
    assert new == ["error: line-length: ISSUE/message.eml: a line of the X-Campaign header is "
                   "1000 octets, over RFC 5322's 998: servers may reject or break the message; "
                   "fold the header or shorten its value, and rebuild"]
    assert result.exit_code == 1


def test_a_quoted_printable_line_over_76_is_an_error(sample: Sample, issue: Path) -> None:
    def join_first_soft_break(eml: bytes) -> bytes:
        head, found, rest = eml.partition(TEXT_HEAD)
        return head + found + rest.replace(b"=\r\n", b"", 1)

    edit_eml(issue, join_first_soft_break)
    result, new = added(sample, issue)
    assert len(new) == 1 and re.fullmatch(
        r"error: line-length: ISSUE/message.eml: the text/plain part \(quoted-printable\) has "
        r"1 line\(s\) over 76 characters \(the first: line \d+ of the part, \d+ long\): "
        r"re-encode it \(rebuild the issue\)", new[0]), new
    assert result.exit_code == 1


# the folder


def test_a_missing_template_part_is_an_error(sample: Sample, issue: Path) -> None:
    (issue / "email.template.txt").unlink()
    result, new = added(sample, issue)
    assert new == ["error: files: ISSUE/email.template.txt is missing: restore the issue "
                   "folder or rebuild the issue"]
    assert result.exit_code == 1


def test_a_damaged_manifest_is_an_error(sample: Sample, issue: Path) -> None:
    (issue / "issue.json").write_text("{}", "utf-8")
    result, new = added(sample, issue)
    assert len(new) == 1 and new[0].startswith("error: files: ISSUE/issue.json: "), new
    assert result.exit_code == 1
