"""A message the builder refuses (a header it did not make) fails that one address and
the send goes on: no way in lets such a name through (digest.addresses.clean_name), so
this is the builder's last line, and one bad row must not stop a list's send on every
rerun. The run is driven as digest.deliver.smtp drives it, with a recipient whose name
no way in would let through, a real state database and a real aiosmtpd."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from digest.config.load import load_config
from digest.deliver.connection import connect
from digest.deliver.engine import Run
from digest.deliver.limiter import Job
from digest.deliver.message import MessageTemplate
from digest.deliver.recipients import Recipient
from digest.outbox.folder import IssueFolder
from digest.state.deliveries import DeliveryLog
from digest.state.store import open_store
from tests.deliver.test_send import server  # noqa: F401 - the fixture
from tests.helpers import secret  # noqa: F401 - the autouse secret fixture
from tests.send_project import project
from tests.smtp_server import SmtpServer


def test_a_refused_header_fails_that_address_and_the_send_goes_on(
        built: Path, tmp_path: Path, server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    smtp = server()
    config = load_config(project(built, tmp_path, smtp.port))
    store = open_store(config.state_path)
    try:
        issue = store.issues()[-1]
    finally:
        store.close()
    template = MessageTemplate.for_issue(config, IssueFolder.open(
        config.outbox_path / issue.outbox_path))
    readers = [Recipient(f"reader{i}@example.net", "Ann Lee") for i in range(5)]
    hostile = Recipient("victim@example.net", "Evil\r\nBcc: spy@example.org")
    jobs = [Job(r) for r in (readers[0], hostile, *readers[1:])]
    log = DeliveryLog.open_shared(config.state_path)
    try:
        log.add_pending(issue.number, [(j.recipient.key, j.recipient.email,
                                        template.message_id(j.recipient)) for j in jobs])
        run = Run(config, issue.number, template, log, jobs, threading.Event(), None)
        run.go(connect(config.smtp, None), None)
        rows = log.rows(issue.number)
    finally:
        log.close()
    assert (run.delivered, run.failed) == (5, 1)
    assert rows["victim@example.net"].state == "failed"
    assert "nothing was sent to it" in (rows["victim@example.net"].last_reply or "")
    assert all(rows[r.key].state == "delivered" for r in readers)
    handler = smtp.handler
    assert sorted(handler.counts) == sorted(r.email for r in readers)
    assert not any(b"spy@example.org" in m.content for m in handler.messages)
