"""Schedule: the daemon, its slots and crontab lines, and how it stops."""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "parse_crontab": "digest.schedule.crontab",
    "Daemon": "digest.schedule.daemon",
    "fmt": "digest.schedule.daemon",
    "last_collect": "digest.schedule.daemon",
    "run_once": "digest.schedule.daemon",
    "load_schedule": "digest.schedule.slots",
    "next_fire_times": "digest.schedule.slots",
    "stop_on_signals": "digest.schedule.stopping",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)
