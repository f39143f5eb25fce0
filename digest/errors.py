"""Every error digest raises on purpose.

    DigestError                 base: the CLI prints its message and exits 1
    ├── ConfigError             config.toml or a template is wrong (exit 2)
    ├── FeedError               one feed could not be fetched or parsed
    ├── StateError              the state database is unusable or newer than this code
    │   └── CommitLost          an issue's commit did not reach the database file
    ├── LockError               another digest process holds the lock
    ├── OutboxError             an issue folder could not be written
    ├── DeliveryError           SMTP refused us (connection, TLS, auth)
    └── InitError               `digest init` cannot make the newsletter folder there

Messages name the feed, key, path or address involved and say what to do.
"""

from __future__ import annotations


class DigestError(Exception):
    """Base class: a failure we expected and can explain."""

    exit_code = 1


class ConfigError(DigestError):
    """The configuration or a template is invalid."""

    exit_code = 2


class FeedError(DigestError):
    """A feed could not be fetched or is not a feed."""


class StateError(DigestError):
    """The state database cannot be used."""


class CommitLost(StateError):
    """The database file was deleted or replaced under us: a commit went nowhere."""


class LockError(DigestError):
    """Another digest process holds the state lock."""


class OutboxError(DigestError):
    """The outbox could not be written."""


class DeliveryError(DigestError):
    """Sending over SMTP failed in a way that stops the whole send."""


class HeaderRefused(DeliveryError):
    """The message for one address would carry a header the builder did not make: that
    address fails, the send goes on (digest.deliver.message.MessageTemplate.render)."""


class InitError(DigestError):
    """A newsletter folder cannot be made where `digest init` was asked to."""
