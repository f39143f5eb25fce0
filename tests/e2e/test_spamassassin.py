"""SpamAssassin's verdict on the sample issue: the message `digest send` would send
(the outbox's message.eml: From, To, Subject, Date, Message-ID, List-Unsubscribe,
both parts; no DKIM in the sample) scored with local tests only (`spamassassin -L -t`).

Runs when SpamAssassin is installed (scripts/test installs the Debian package and
then sets DIGEST_REQUIRE_SPAMASSASSIN, so a missing one fails instead of skipping).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import init_and_build

SPAMASSASSIN = shutil.which("spamassassin")
if not SPAMASSASSIN and os.environ.get("DIGEST_REQUIRE_SPAMASSASSIN"):
    raise RuntimeError("spamassassin is not installed; scripts/test installs it (apt-get)")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SPAMASSASSIN, reason="spamassassin not installed")]

MAX_SCORE = 1.0
# Rules that mean the message is built or styled wrong, whatever the total.
FORBIDDEN = re.compile(r"MPART_ALT_DIFF\w*|MISSING_\w+|HTML_FONT_LOW_CONTRAST|"
                       r"LONGLN_LOW_CONTRAST|MIME_QP_LONG_LINE|HTML_IMAGE_ONLY_\w+")


@dataclass(frozen=True)
class Verdict:
    score: float
    rules: dict[str, float]  # rule name -> points
    report: str

    def __str__(self) -> str:
        hits = ", ".join(f"{name} {points:+g}" for name, points in self.rules.items())
        return f"score {self.score:g}: {hits or 'no rules hit'}"


def spamassassin(message: bytes, home: Path) -> Verdict:
    """Score `message` with local tests only; parse the report -t appends."""
    assert SPAMASSASSIN
    home.mkdir(exist_ok=True)  # SpamAssassin keeps per-user files in $HOME/.spamassassin
    done = subprocess.run([SPAMASSASSIN, "-L", "-t"], input=message, capture_output=True,
                          timeout=300, check=True, env={**os.environ, "HOME": str(home)})
    out = done.stdout.decode("utf-8", "replace")
    total = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", out)
    assert total, f"no report in spamassassin's output:\n{out[-3000:]}"
    table = out[total.end():]
    rules = {name: float(points) for points, name in
             re.findall(r"(?m)^\s*(-?\d+(?:\.\d+)?)\s+([A-Z][A-Z0-9_]+)\b", table)}
    return Verdict(float(total.group(1)), rules, table)


@pytest.fixture(scope="module")
def sample_message(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """`digest init` then `digest build`: the sample issue's message.eml."""
    folder = init_and_build(tmp_path_factory.mktemp("spam") / "news")
    [eml] = (folder / "outbox").glob("2026-11-30-*-1/message.eml")
    return eml.read_bytes()


def test_sample_issue_is_not_spam(sample_message: bytes, tmp_path: Path):
    head = sample_message.split(b"\r\n\r\n", 1)[0].decode("ascii")
    for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
        assert re.search(rf"(?m)^{header}: \S", head), f"message.eml has no {header}"

    verdict = spamassassin(sample_message, tmp_path / "home")

    assert "HTML_MESSAGE" in verdict.rules, f"report not parsed:\n{verdict.report}"
    forbidden = sorted(name for name in verdict.rules if FORBIDDEN.fullmatch(name))
    assert not forbidden, f"rules that must not fire: {forbidden} ({verdict})"
    assert verdict.score <= MAX_SCORE, f"SpamAssassin {verdict}, over {MAX_SCORE}"
