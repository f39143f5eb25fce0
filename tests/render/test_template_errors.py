"""A broken user template (`[layout] templates_dir`), through the front door: exit
status 2, one `error:` line naming the template file (the partial at fault, with its
line, not issue.mjml.j2 that included it), no traceback, and nothing built."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ROOT, Route, error_line, rss, run

FOOTER = "blocks/footer.mjml.j2"




# name: (the user's blocks/footer.mjml.j2, what the error line says, `check` exit status)
CASES: dict[str, tuple[bytes, list[str], int]] = {
    "includes itself": (
        b'<mj-section>\n{% include "blocks/footer.mjml.j2" %}\n</mj-section>\n',
        [f"template {FOOTER} line 2", "includes itself"], 0),
    "invalid MJML": (
        b"<mj-section><mj-column><mj-text>unclosed</mj-column></mj-section>\n",
        ["invalid MJML", "issue.mjml.j2", "[layout] templates_dir"], 0),
    "not UTF-8": (
        "<mj-section><mj-column><mj-text>Caf\u00e9</mj-text></mj-column></mj-section>\n"
        .encode("latin-1"),
        [f"my-templates/{FOOTER} is not UTF-8", "save it as UTF-8"], 2),
    "syntax error in a partial": (
        b"<mj-section>\n<mj-column>\n{% if %}\n</mj-column>\n</mj-section>\n",
        [f"template {FOOTER} line 3: Expected an expression"], 2),
    "undefined variable in the footer": (
        b"<mj-section>\n<mj-column>\n<mj-text>{{ no_such_value }}</mj-text>\n"
        b"</mj-column>\n</mj-section>\n",
        [f"template {FOOTER} line 3", "'no_such_value' is undefined"], 0),
}


@pytest.fixture
def with_footer(sample_project: Path) -> tuple[Path, Path]:
    """The sample project with its own templates folder (empty so far)."""
    mine = sample_project.parent / "my-templates"
    (mine / "blocks").mkdir(parents=True)
    with sample_project.open("a", encoding="utf-8") as f:
        f.write('\n[layout]\ntemplates_dir = "my-templates"\n')
    return sample_project, mine


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", [("build", "--preview"), ("build",)], ids=" ".join)
def test_a_broken_template_is_one_line_naming_the_file(
        with_footer: tuple[Path, Path], case: str, command: tuple[str, ...]):
    config, mine = with_footer
    footer, expected, _ = CASES[case]
    (mine / FOOTER).write_bytes(footer)

    result = run(config, *command)
    assert result.exit_code == 2, result.output
    line = error_line(result)
    for fragment in expected:
        assert fragment in line, line
    if case != "invalid MJML":  # the one case where the file cannot be told
        assert "template issue.mjml.j2" not in line
    outbox = config.parent / "outbox"
    assert not [p for p in outbox.iterdir() if p.name != "preview"] if outbox.exists() else True
    status = run(config, "status")
    assert status.exit_code == 0 and "no issues built yet" in status.output


@pytest.mark.parametrize("case", list(CASES))
def test_check_agrees_with_build(with_footer: tuple[Path, Path], case: str):
    """What `check` can see without rendering (syntax, encoding), it reports as build
    does; the rest only a render shows, and `check` passes."""
    config, mine = with_footer
    footer, expected, status = CASES[case]
    (mine / FOOTER).write_bytes(footer)
    result = run(config, "check")
    assert result.exit_code == status, result.output
    if status:
        line = error_line(result)
        for fragment in expected:
            assert fragment in line, line


def test_the_good_bundled_footer_still_builds(with_footer: tuple[Path, Path]):
    config, mine = with_footer
    bundled = ROOT / "templates" / FOOTER
    (mine / FOOTER).write_bytes(bundled.read_bytes())
    result = run(config, "build", "--preview")
    assert result.exit_code == 0, result.output


def test_an_editor_template_can_extend_the_bundled_one(feed_server, write_config,
                                                       tmp_path: Path):
    """`digest/<name>` is always the bundled template, so an override of issue.mjml.j2
    can extend it instead of copying it (extending "issue.mjml.j2" would be itself)."""
    feed_server.routes["/w.xml"] = Route(rss(6, "Wire"))
    mine = tmp_path / "mine"
    (mine / "blocks").mkdir(parents=True)
    (mine / "issue.mjml.j2").write_text(
        '{% extends "digest/issue.mjml.j2" %}'
        "{% block styles %} .masthead-name div { color: #123456 !important; }{% endblock %}",
        "utf-8")
    (mine / "blocks" / "masthead.mjml.j2").write_text(
        '{% include "digest/blocks/masthead.mjml.j2" %}'
        '<mj-section><mj-column><mj-text>Edited by hand</mj-text></mj-column></mj-section>',
        "utf-8")
    (mine / "junk.j2").symlink_to(tmp_path / "nowhere.j2")  # a dangling link is skipped
    path = write_config([{"url": feed_server.url("/w.xml"), "name": "Wire"}],
                        extra='[layout]\ntemplates_dir = "mine"\n')
    assert run(path, "check").exit_code == 0
    result = run(path, "build", "--preview")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "outbox" / "preview" / "email.html").read_text("utf-8")
    assert "#123456" in html and "Edited by hand" in html
    assert "Wire 0" in html  # the bundled blocks still render the stories
