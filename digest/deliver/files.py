"""What goes into an issue folder: the reader's copy of both parts, the .eml, issue.json."""

from __future__ import annotations

import os
from email.utils import getaddresses
from typing import Any

from ..config import Config
from ..models import Article, RenderedIssue
from ..render import personalize
from .message import build_message, message_id, unsubscribe_link
from .outbox import OutboxFiles

MANIFEST_VERSION = 1


def issue_key(config: Config, number: int) -> str:
    return f"{config.newsletter.slug}-{number}"


def unsubscribe_url(config: Config, email: str) -> str:
    """The per-recipient unsubscribe link from [delivery] unsubscribe_url."""
    delivery = config.delivery
    return unsubscribe_link(delivery.unsubscribe_url, delivery.unsubscribe_mailto,
                            os.environ.get(delivery.secret_env, ""), email)


def outbox_files(rendered: RenderedIssue, config: Config, folder: str) -> OutboxFiles:
    """The issue as written to the outbox, addressed to the configured recipients."""
    to = ", ".join(config.delivery.recipients) or "undisclosed-recipients:;"
    addresses = [addr for _, addr in getaddresses(config.delivery.recipients)]
    reader = addresses[0] if len(addresses) == 1 else ""
    values = {"email": reader, "name": "", "unsubscribe_url": unsubscribe_url(config, reader)}
    html = personalize(rendered.html, values, html=True)
    text = personalize(rendered.text, values, html=False)
    issue = rendered.issue
    eml = build_message(
        subject=rendered.subject, sender=config.sender, to=to, text=text, html=html,
        date=issue.date, msg_id=message_id(issue_key(config, issue.number), to, config.sender),
    ).as_bytes()
    return OutboxFiles(html, text, eml, manifest(rendered, config, folder),
                       rendered.html, rendered.text)


def manifest(rendered: RenderedIssue, config: Config, folder: str) -> dict[str, Any]:
    """issue.json: what went where and why. Also what recovery reads back."""
    issue = rendered.issue
    by_id = {a.id: a for a in issue.placed}
    return {
        "manifest_version": MANIFEST_VERSION,
        "newsletter": config.newsletter.name,
        "number": issue.number,
        "slot": issue.slot,
        "date": issue.date.isoformat(timespec="seconds"),
        "folder": folder,
        "subject": rendered.subject,
        "preheader": rendered.preheader,
        "html_bytes": len(rendered.html.encode()),
        "dropped_cards": rendered.dropped_cards,
        "notes": list(rendered.notes),
        "sections": {
            "big_story": [_summary(issue.big_story)] if issue.big_story else [],
            "need_to_know": [_summary(a) for a in issue.need_to_know],
            "read_more": [_summary(a) for a in issue.read_more],
            "coming_up": [{"date": e.date.isoformat(), "event": e.event} for e in issue.coming_up],
        },
        "decisions": [
            {"article_id": d.article_id, "section": d.section, "position": d.position,
             "reason": d.reason, **({"url": by_id[d.article_id].url} if d.article_id in by_id
                                    else {})}
            for d in issue.decisions
        ],
    }


def _summary(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "feed": article.feed_name,
        "category": article.category,
        "published": article.published.isoformat() if article.published else None,
        "image": article.image.url.rsplit("/", 1)[-1] if article.image else None,
    }
