"""issue.json is written a decision at a time (issue 19: at 1,000 feeds its ~50,000
decisions made `asdict` + `json.dumps` the build's peak of memory): the text is the one
the whole-manifest dump made, it reads back, and `published()` still sees every URL."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from digest.outbox.folder import (
    DecisionRecord,
    IssueFiles,
    IssueFolder,
    Manifest,
    PlacedStory,
    Sections,
    published,
)

N = 3000


def whole_dump(manifest: Manifest) -> str:
    """How issue.json was made before: the manifest dumped in one piece."""
    data = dataclasses.asdict(manifest)
    data = {"manifest_version": data.pop("manifest_version"), **data}
    for d in data["decisions"]:
        for key in ("url", "score"):
            if d[key] is None:
                del d[key]
    if not data["variants"]:
        del data["variants"]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def manifest(decisions: tuple[DecisionRecord, ...]) -> Manifest:
    story = PlacedStory("a0", 'Öl "decisions": []\n', "https://example.com/0", "Wire",
                        "energy", None, None)
    return Manifest(newsletter="Bench Weekly", slug="bench-weekly", number=1,
                    date="2026-11-30T08:00:00+00:00", folder="2026-11-30-bench-weekly-1",
                    subject='Issue "decisions": []', preheader="ünïcode \u2028 line",
                    marker="ab" * 12, state_id="s1", notes=('\n  "decisions": []',),
                    sections=Sections(big_story=(story,)), decisions=decisions)


def decisions() -> tuple[DecisionRecord, ...]:
    made = []
    for i in range(N):
        score = {"total": i / 7, "freshness": 0.5, "undated": i % 2 == 0} if i % 3 else None
        url = f"https://example.com/{i}?q=\"x\"\n" if i % 5 else None
        made.append(DecisionRecord(f"a{i}", "passed_over" if i else "big_story", i,
                                   f'below the cut \u00e9 "decisions": [] {i}', url, score))
    return tuple(made)


def test_many_decisions_make_the_text_the_whole_dump_made(tmp_path: Path):
    m = manifest(decisions())
    assert m.to_json() == whole_dump(m)
    files = IssueFiles(m, "t", "t", "h", "t", b"eml")
    folder = IssueFolder.write(tmp_path / "outbox", files)
    assert (folder.path / "issue.json").read_text("utf-8") == whole_dump(m)
    back = IssueFolder.open(folder.path).manifest
    assert back == m
    urls = published(tmp_path / "outbox", "bench-weekly").urls
    assert len(urls) == sum(1 for i in range(N) if i % 5)
    assert urls[f"https://example.com/{N - 1}?q=\"x\"\n"] == 1


def test_no_decisions_reads_as_before():
    m = manifest(())
    assert m.to_json() == whole_dump(m)
    assert '"decisions": []' in m.to_json()
    assert Manifest.from_json(m.to_json()) == m
