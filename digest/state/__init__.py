"""State: the SQLite store and the only SQL, its lock, migrations, errors, doctor and recovery;
the fetch cache beside it."""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "clear_pause": "digest.state.audit",
    "counted_from": "digest.state.audit",
    "issue_events": "digest.state.audit",
    "issue_figures": "digest.state.audit",
    "note_counted_from": "digest.state.audit",
    "note_pause": "digest.state.audit",
    "pause_note": "digest.state.audit",
    "record_unsubscribe": "digest.state.audit",
    "trace_bounce": "digest.state.audit",
    "BounceLog": "digest.state.bounces",
    "FRESH_FOR": "digest.state.cache",
    "Cache": "digest.state.cache",
    "open_cache": "digest.state.cache",
    "Confirmations": "digest.state.confirmations",
    "Queued": "digest.state.confirmations",
    "DeliveryLog": "digest.state.deliveries",
    "RequestOutcome": "digest.state.deliveries",
    "SUBSCRIBER_COLUMNS": "digest.state.deliveries",
    "SUBSCRIBER_STATES": "digest.state.deliveries",
    "Subscriber": "digest.state.deliveries",
    "Subscribers": "digest.state.deliveries",
    "TO_SEND": "digest.state.deliveries",
    "doctor": "digest.state.doctor",
    "newer_schema": "digest.state.errors",
    "exclusive": "digest.state.lock",
    "state_lock": "digest.state.lock",
    "SCHEMA_VERSION": "digest.state.migrations",
    "RateLimits": "digest.state.ratelimits",
    "Event": "digest.state.report",
    "IssueReport": "digest.state.report",
    "RecipientRow": "digest.state.report",
    "issue_report": "digest.state.report",
    "pick_issue": "digest.state.report",
    "recipients": "digest.state.report",
    "recover_outbox": "digest.state.recover",
    "Store": "digest.state.store",
    "locked_store": "digest.state.store",
    "open_readonly": "digest.state.store",
    "open_store": "digest.state.store",
    "stamp_ms": "digest.state.deliveries",
    "active_topics": "digest.state.topics",
    "all_topics": "digest.state.topics",
    "set_topics": "digest.state.topics",
    "topics_of": "digest.state.topics",
    # the subscribers' time zones (local-time delivery)
    "set_pending_zone": "digest.state.zones",
    "set_zones": "digest.state.zones",
    "subscriber_zones": "digest.state.zones",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)
