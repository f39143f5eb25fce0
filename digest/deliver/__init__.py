"""Delivery: the outbox folder, and (see smtp.py) sending to subscribers."""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "process": "digest.deliver.bounces",
    "ConfirmationWorker": "digest.deliver.confirm_queue",
    "CONFIRM_SECONDS": "digest.deliver.confirmation",
    "MessageTemplate": "digest.deliver.message",
    "Unsent": "digest.deliver.order",
    "check_send_order": "digest.deliver.order",
    "unsent_issues": "digest.deliver.order",
    "load_dkim": "digest.deliver.message",
    "sign": "digest.deliver.message",
    "Recipient": "digest.deliver.recipients",
    "RecipientList": "digest.deliver.recipients",
    "load_recipients": "digest.deliver.recipients",
    "Progress": "digest.deliver.smtp",
    "SendReport": "digest.deliver.smtp",
    "resolve_in_flight": "digest.deliver.smtp",
    "send_issue": "digest.deliver.smtp",
    "send_test": "digest.deliver.smtp",
    "send_test_folder": "digest.deliver.smtp",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)
