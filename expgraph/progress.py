"""Progress of long work, reported through a callback so the core prints nothing itself: the
CLI turns the calls into a terminal progress bar, tests and libraries pass nothing."""

from __future__ import annotations

from collections.abc import Callable

# progress(done, total, what): `done` of `total` units (None when unknown), now doing `what`.
Progress = Callable[[int, "int | None", str], None]


def report(progress: Progress | None, done: int, total: int | None, what: str) -> None:
    if progress is not None:
        progress(done, total, what)
