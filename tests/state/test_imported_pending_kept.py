"""A pending subscriber the operator imported (`digest subscribers import`, status
pending: say, a list moved from another tool) is the operator's record, not a web
sign-up whose link ran out: the confirmation worker of `digest serve` expired every
pending row older than a link's life "or who never had one", so starting `serve` on an
upgraded database silently deleted imported pending rows. On each backend: a real
SQLite file, a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

from digest.deliver.confirm_queue import LIFETIME_MS
from digest.state.confirmations import Confirmations
from digest.state.deliveries import Subscribers
from tests.helpers import config_with, run

DAY_MS = 86_400_000
IMPORTED_AT = "2026-11-30T08:00:00+00:00"
IMPORTED_MS = 1_796_025_600_000  # the same moment


def test_expiry_keeps_pending_rows_the_operator_imported(tmp_path: Path,
                                                         state_db: Path | str) -> None:
    config = config_with(tmp_path)
    (tmp_path / "people.csv").write_text(
        "email,name,status\nwaits@example.com,Waits,pending\nok@example.com,Ok,active\n",
        "utf-8")
    run(config, "subscribers", "import", str(tmp_path / "people.csv"), now=IMPORTED_AT,
        expect=0)
    with Confirmations.opened(state_db) as queue:
        queue.expire(IMPORTED_MS + 10 * DAY_MS, LIFETIME_MS)
    with Subscribers.opened(state_db) as subscribers:
        rows = sorted((s.email, s.status) for s in subscribers.each())
    assert rows == [("ok@example.com", "active"), ("waits@example.com", "pending")]
