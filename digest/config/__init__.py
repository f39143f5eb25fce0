"""Settings: the schema of config.toml, loading and checking it, the `digest init` scaffold."""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "check_ready": "digest.config.checks",
    "default_config_path": "digest.config.load",
    "is_web": "digest.config.load",
    "load_config": "digest.config.load",
    "local_path": "digest.config.load",
    "lower_scheme": "digest.config.load",
    "parse_duration": "digest.config.load",
    "web_netloc": "digest.config.load",
    "InitReport": "digest.config.scaffold",
    "init_newsletter": "digest.config.scaffold",
    "CollectConfig": "digest.config.schema",
    "Config": "digest.config.schema",
    "FeedConfig": "digest.config.schema",
    "LayoutConfig": "digest.config.schema",
    "LogFormat": "digest.config.schema",
    "PinConfig": "digest.config.schema",
    "SmtpConfig": "digest.config.schema",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)
