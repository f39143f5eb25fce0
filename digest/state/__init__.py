"""State: the store (a SQLite file or a PostgreSQL database) and the only SQL, its locks,
migrations, errors, doctor, copy and recovery."""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "Where": "digest.state.backend",
    "describe": "digest.state.backend",
    "copy_state": "digest.state.copy",
    "Lead": "digest.state.lock",
    "leader_lock": "digest.state.lock",
    "BounceLog": "digest.state.bounces",
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
    "recover_outbox": "digest.state.recover",
    "Store": "digest.state.store",
    "locked_store": "digest.state.store",
    "open_readonly": "digest.state.store",
    "open_store": "digest.state.store",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)
