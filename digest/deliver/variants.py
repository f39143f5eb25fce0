"""Which edition of an issue each reader gets (digest.curate.variants makes them).

A reader's topics come from the subscribers table (`digest subscribers import`, the
manage page) or, for the configured list, a `topics` column of `[delivery]
recipients_file`; names no longer in `[[topics]]` are ignored. The send loads one
MessageTemplate per edition, each read and encoded once, and `Editions` hands each
recipient's message to the engine from the one its topics map to: the same set, else
the nearest broader edition the issue has, else the full edition. The delivery log is
keyed by issue and recipient as ever, so each reader still gets exactly one message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Protocol

from digest.config.schema import Config
from digest.curate.topics import FULL, TopicSet, nearest, read_topics, set_key
from digest.deliver.message import MessageTemplate
from digest.deliver.recipients import Recipient, RecipientList
from digest.outbox.folder import IssueFolder
from digest.state.store import open_readonly
from digest.state.topics import active_topics


class Letters(Protocol):
    """What the send engine needs of an issue's message: one template, or Editions."""

    def wire(self, recipient: Recipient) -> bytes: ...

    def envelope_for(self, recipient: Recipient) -> str: ...

    def message_id(self, recipient: Recipient) -> str: ...

    def variant(self, recipient: Recipient) -> str: ...


def reader_topics(config: Config, listed: RecipientList,
                  unknown: list[str] | None = None) -> dict[str, TopicSet]:
    """Recipient key -> their topic set, for those who ticked any. A name no longer in
    [[topics]] is ignored; `unknown` gets a line for each configured recipient's."""
    if not config.topics:
        return {}
    store = open_readonly(config.state_db)
    try:
        stored = active_topics(store.conn)
    finally:
        store.close()
    sets: dict[str, TopicSet] = {}
    for r in listed.recipients:
        text = stored.get(r.key) if r.key in listed.subscribers else dict(r.fields).get("topics")
        if text:
            topics, bad = read_topics(text, config)
            if bad and unknown is not None and r.key not in listed.subscribers:
                unknown.append(f"{listed.source or 'the recipient list'}: {r.email}: topic "
                               f"{bad[0]!r} is not one of [[topics]]; ignored")
            if topics:
                sets[r.key] = topics
    return sets


def readers_per_set(listed: RecipientList, sets: Mapping[str, TopicSet]) -> Counter[TopicSet]:
    """How many recipients have each topic set (FULL: those who ticked none)."""
    return Counter(sets.get(r.key, FULL) for r in listed.recipients)


class Editions:
    """The issue's message per edition; each recipient's from the edition they get."""

    def __init__(self, full: MessageTemplate, editions: Mapping[TopicSet, MessageTemplate],
                 sets: Mapping[str, TopicSet]) -> None:
        self.full = full
        self.editions = dict(editions)
        available = list(self.editions)
        # The edition of each set a reader has, worked out once per set.
        self.pick = {s: nearest(s, available) for s in set(sets.values())}
        self.sets = dict(sets)

    def of(self, recipient: Recipient) -> MessageTemplate:
        topics = self.pick.get(self.sets.get(recipient.key, FULL), FULL)
        return self.editions.get(topics, self.full) if topics else self.full

    def variant(self, recipient: Recipient) -> str:
        """The key of the edition `recipient` gets ("" the full issue), for the log."""
        topics = self.pick.get(self.sets.get(recipient.key, FULL), FULL)
        return set_key(topics) if topics in self.editions else ""

    def wire(self, recipient: Recipient) -> bytes:
        return self.of(recipient).wire(recipient)

    def envelope_for(self, recipient: Recipient) -> str:
        return self.of(recipient).envelope_for(recipient)

    def message_id(self, recipient: Recipient) -> str:
        return self.of(recipient).message_id(recipient)


def issue_letters(config: Config, folder: IssueFolder,
                  listed: RecipientList) -> MessageTemplate | Editions:
    """The message of the issue in `folder`, one template per edition it has."""
    full = MessageTemplate.for_issue(config, folder)
    made = [v for v in folder.manifest.variants if not v.fallback]
    if not made:
        return full
    editions = {}
    for record in made:
        topics, _ = read_topics("|".join(record.topics), config)
        if topics and topics == frozenset(record.topics):  # a topic since removed: skip
            editions[topics] = MessageTemplate.for_issue(config, folder.variant(record))
    if not editions:
        return full
    return Editions(full, editions, reader_topics(config, listed))
