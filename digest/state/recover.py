"""Finish what a killed build left: adopt written-but-unrecorded issue folders.

The outbox folder is written before the database commit. If the process dies
between the two, the folder's manifest still says which articles it consumed;
recording it keeps those articles out of the next issue. Only folders of this
newsletter (its slug) made with this database (its state id) are adopted; folders
of a lost or replaced database are not, but `issue_folder.published` still keeps
their stories from being published again.
"""

from __future__ import annotations

from pathlib import Path

from digest.models import CuratedIssue, Decision
from digest.outbox.folder import IssueFolder, scan_outbox
from digest.state.store import Store


def recover_outbox(store: Store, outbox: Path, slug: str) -> list[str]:
    """Remove abandoned temp folders and record orphaned issues. Returns notes."""
    notes: list[str] = []
    recorded = {i.number for i in store.issues()}
    for folder in scan_outbox(outbox, sweep=True):
        manifest = folder.manifest
        if manifest.slug != slug or manifest.state_id != store.state_id \
                or manifest.number in recorded:
            continue
        notes.append(_adopt(store, folder))
        recorded.add(folder.manifest.number)
    return notes


def _adopt(store: Store, folder: IssueFolder) -> str:
    manifest = folder.manifest
    ids = [d.article_id for d in manifest.decisions]
    known = store.known_ids(ids)
    used = store.used_ids(ids)
    keep = tuple(Decision(d.article_id, d.section, d.position, d.reason)
                 for d in manifest.decisions if d.article_id in known and d.article_id not in used)
    issue = CuratedIssue(
        number=manifest.number, date=manifest.when, big_story=None, need_to_know=(),
        read_more=(), coming_up=(), decisions=keep, slot=manifest.slot,
    )
    # Its delivery log may be gone too (a restored backup): never sent on its own.
    store.commit_issue(issue, manifest.subject, folder.path.name, state="recovered")
    return (f"recovered issue #{issue.number} from {folder.path} (written before an "
            "interrupted run could record it, or after the database backup in use); it is "
            f"not sent automatically: if it never went out, run `digest send {issue.number}`")
