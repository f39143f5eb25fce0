"""digest: turn news feeds into an editorial newsletter issue."""

__version__ = "0.1.0"
