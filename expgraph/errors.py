"""Errors a user can act on. `UsageError` is what the library raises for a bad argument or a
missing node (a `ValueError`, so Python callers can catch either); the CLI and HTTP layers turn
exactly these into one-line messages, and anything else stays a bug with its traceback."""

from __future__ import annotations


class UsageError(ValueError):
    """A request that cannot be served as given; the message says what to change."""
