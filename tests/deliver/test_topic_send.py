"""Reader topics end to end at a real aiosmtpd server: one issue built into the full
edition and one edition per topic set readers have, each rendered once, each reader
sent exactly one message, of their own edition."""

from __future__ import annotations

import email
import json
import shutil
from collections import Counter
from email import policy
from pathlib import Path

import pytest

import digest.curate.assemble as assemble
from digest import pipeline
from digest.config.load import load_config
from digest.deliver.message import MessageTemplate
from digest.deliver.smtp import send_issue
from digest.state.deliveries import Subscriber, Subscribers
from digest.state.store import open_store
from digest.state.topics import set_topics
from tests.helpers import SAMPLES, secret  # noqa: F401 - the autouse secret fixture
from tests.smtp_server import Recorder, SmtpServer

FEEDS = {"markets.xml": "Markets", "policy.xml": "Policy", "tech.atom": "Tech",
         "trade.xml": "Trade", "world.atom": "World"}
TOPICS = {"markets": ["Markets"], "tech": ["Tech"], "trade": ["Trade"], "policy": ["Policy"]}
# 300 readers: 60 with no topics (the full edition), 60 for each of four sets.
SETS = ["", "markets", "tech", "markets|trade", "policy|tech"]


def topic_project(folder: Path, port: int, extra: str = "", delivery: str = "") -> Path:
    shutil.copytree(SAMPLES / "feeds", folder / "samples" / "feeds")
    feeds = "".join(f'\n[[feeds]]\nurl = "samples/feeds/{f}"\nname = "{n}"\n'
                    for f, n in FEEDS.items())
    topics = "".join(f'\n[[topics]]\nname = "{t}"\ndescription = "All about {t}"\n'
                     f"feeds = {json.dumps(f)}\n" for t, f in TOPICS.items())
    path = folder / "config.toml"
    path.write_text(f"""
[newsletter]
name = "The China Connection"
timezone = "Asia/Shanghai"

[editor]
max_age_days = 0

[schedule]
min_new_items = 3

[enrich]
pages = "never"

[delivery]
mode = "smtp"
from = "The China Connection <digest@example.com>"
unsubscribe_url = "https://example.com/unsubscribe?token={{token}}"
{delivery}

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
connections = 4
timeout = 10
{extra}
{feeds}
{topics}""", "utf-8")
    return path


def subscribe(path: Path, n: int = 300) -> dict[str, str]:
    """`n` active subscribers, their topics spread over SETS; address -> topics."""
    config = load_config(path)
    store = open_store(config.state_path)
    try:
        people = {f"reader{i:04d}@example.net": SETS[i % len(SETS)] for i in range(n)}
        Subscribers(store.conn).upsert(Subscriber(a, "active") for a in people)
        set_topics(store.conn, people.items())
    finally:
        store.close()
    return people


def count_renders(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the issue renders (the real renderer runs: this only counts its calls)."""
    calls: Counter[str] = Counter()
    real = assemble.render_issue

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["render"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(assemble, "render_issue", counted)
    return calls


def count_templates(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    calls: Counter[str] = Counter()
    real = MessageTemplate.for_issue.__func__  # type: ignore[attr-defined]

    def counted(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["template"] += 1
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(MessageTemplate, "for_issue", classmethod(counted))
    return calls


def test_300_readers_over_4_topic_sets_get_4_editions_and_the_full_one_each_exactly_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer(Recorder()) as smtp:
        path = topic_project(tmp_path, smtp.port)
        people = subscribe(path)
        renders = count_renders(monkeypatch)
        result = pipeline.build(load_config(path))
        assert result.status == "built", result.message
        assert renders["render"] == 5  # the editions, not the readers
        assert result.path is not None
        manifest = json.loads((result.path / "issue.json").read_text("utf-8"))
        variants = {v["key"]: v for v in manifest["variants"]}
        assert set(variants) == {"markets", "tech", "markets+trade", "policy+tech"}
        feeds_of = {t: set(f) for t, f in TOPICS.items()}
        editions: dict[str, dict[str, object]] = {}
        for key, v in variants.items():
            assert v["fallback"] is False and v["readers"] == 60, v
            own = json.loads((result.path / v["folder"] / "issue.json").read_text("utf-8"))
            stories = [s for block in ("big_story", "need_to_know", "read_more")
                       for s in own["sections"][block]]
            assert [s["id"] for s in stories] == v["stories"]
            allowed = set().union(*(feeds_of[t] for t in v["topics"]))
            assert stories and {s["feed"] for s in stories} <= allowed, (key, stories)
            editions[key] = own
            copy = email.message_from_bytes((result.path / v["folder"] / "message.eml")
                                            .read_bytes(), policy=policy.default)
            # The outbox copy is addressed to a reader of that edition.
            assert people[copy["To"].addresses[0].addr_spec].replace("|", "+") == key
        copy = email.message_from_bytes((result.path / "message.eml").read_bytes(),
                                        policy=policy.default)
        assert people[copy["To"].addresses[0].addr_spec] == ""
        # Each edition of more than one topic is no copy of a one-topic one.
        assert variants["markets+trade"]["stories"] != variants["markets"]["stories"]
        full_feeds = {s["feed"] for b in ("big_story", "need_to_know", "read_more")
                      for s in manifest["sections"][b]}
        assert len(full_feeds) > 2  # the full edition is everyone's
        # The issue uses up every story an edition placed.
        decided = {d["article_id"] for d in manifest["decisions"]}
        assert all(set(v["stories"]) <= decided for v in variants.values())

        templates = count_templates(monkeypatch)
        report = send_issue(load_config(path), 1)
        assert (report.delivered, report.failed, report.deferred) == (300, 0, 0)
        assert templates["template"] == 5  # one message template per edition
        assert smtp.handler.total == 300
        assert all(n == 1 for n in smtp.handler.counts.values())
        assert set(smtp.handler.counts) == set(people)
        for message in smtp.handler.messages:
            to = message.rcpt_tos[0]
            msg = email.message_from_bytes(message.content, policy=policy.default)
            key = people[to].replace("|", "+")
            own = editions[key] if key else manifest
            assert " ".join(msg["Subject"].split()) == " ".join(str(own["subject"]).split())
            text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            for s in own["sections"]["need_to_know"]:
                assert s["title"] in text, (to, key, s["title"])

        again = send_issue(load_config(path), 1)  # exactly once: nothing more
        assert again.delivered == 0 and smtp.handler.total == 300


def test_a_topics_column_of_the_recipients_file_picks_the_edition(tmp_path: Path) -> None:
    with SmtpServer(Recorder()) as smtp:
        path = topic_project(tmp_path, smtp.port, delivery='recipients_file = "readers.csv"')
        (tmp_path / "readers.csv").write_text(
            "email,name,topics\nann@example.com,Ann,tech\nbob@example.com,Bob,\n"
            "cy@example.com,Cy,Tech|gone\n", "utf-8")  # a name since removed is ignored
        result = pipeline.build(load_config(path))
        assert result.status == "built" and result.path
        assert any(n.endswith("readers.csv: cy@example.com: topic 'gone' is not one of "
                              "[[topics]]; ignored") for n in result.notes), result.notes
        manifest = json.loads((result.path / "issue.json").read_text("utf-8"))
        (tech,) = manifest["variants"]
        assert tech["key"] == "tech" and tech["readers"] == 2
        edition = json.loads((result.path / tech["folder"] / "issue.json").read_text("utf-8"))
        report = send_issue(load_config(path), 1)
        assert report.delivered == 3
        subjects = {m.rcpt_tos[0]: " ".join(str(email.message_from_bytes(
            m.content, policy=policy.default)["Subject"]).split())
            for m in smtp.handler.messages}
        assert subjects["ann@example.com"] == subjects["cy@example.com"] == \
            " ".join(edition["subject"].split())
        assert subjects["bob@example.com"] == " ".join(manifest["subject"].split())
        assert subjects["bob@example.com"] != subjects["ann@example.com"]
