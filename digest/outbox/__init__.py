"""Outbox: the issue folder (written atomically, a versioned manifest), its files, and the
linter.
"""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "IssueFiles": "digest.outbox.compose",
    "issue_files": "digest.outbox.compose",
    "IssueFolder": "digest.outbox.folder",
    "Manifest": "digest.outbox.folder",
    "PREVIEW": "digest.outbox.folder",
    "Published": "digest.outbox.folder",
    "folder_name": "digest.outbox.folder",
    "fsync_dir": "digest.outbox.folder",
    "published": "digest.outbox.folder",
    "scan_outbox": "digest.outbox.folder",
    "lint_issue": "digest.outbox.lint",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)
