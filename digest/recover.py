"""Finish what a killed build left: adopt written-but-unrecorded issue folders.

The outbox folder is written before the database commit. If the process dies
between the two, the folder's issue.json still says which articles it consumed;
recording it keeps those articles out of the next issue.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime
from pathlib import Path

from .deliver.outbox import PREVIEW
from .models import CuratedIssue, Decision
from .store import Store

STALE_SECONDS = 600


def recover_outbox(store: Store, outbox: Path) -> list[str]:
    """Remove abandoned temp folders and record orphaned issues. Returns notes."""
    notes: list[str] = []
    if not outbox.is_dir():
        return notes
    recorded = {i.number for i in store.issues()}
    for folder in sorted(outbox.iterdir()):
        if folder.name.startswith(".") and folder.is_dir():
            # A temp folder never renamed into place. A young one may be a preview
            # being written right now (previews take no lock): leave it.
            if time.time() - folder.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
            continue
        manifest_path = folder / "issue.json"
        if folder.name == PREVIEW or not manifest_path.is_file():
            continue
        try:
            data = json.loads(manifest_path.read_text("utf-8"))
            number = int(data["number"])
        except (ValueError, KeyError, TypeError, OSError):
            continue
        if number in recorded:
            continue
        notes.append(_adopt(store, folder, data))
        recorded.add(number)
    return notes


def _adopt(store: Store, folder: Path, data: dict) -> str:
    decisions = tuple(
        Decision(d["article_id"], d["section"], int(d["position"]), d["reason"])
        for d in data["decisions"]
    )
    known = store.articles_by_id(d.article_id for d in decisions)
    used = _used(store, [d.article_id for d in decisions])
    keep = tuple(d for d in decisions if d.article_id in known and d.article_id not in used)
    issue = CuratedIssue(
        number=int(data["number"]), date=datetime.fromisoformat(data["date"]), big_story=None,
        need_to_know=(), read_more=(), coming_up=(), decisions=keep, slot=data.get("slot"),
    )
    store.commit_issue(issue, data.get("subject", ""), folder.name)
    return (f"recovered issue #{issue.number} from {folder} (written before an interrupted "
            "run could record it)")


def _used(store: Store, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    rows = store.conn.execute(
        f"SELECT article_id FROM issue_articles WHERE article_id IN ({marks})", ids)
    return {r[0] for r in rows}
