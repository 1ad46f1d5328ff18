"""Progress bars for the long commands (tqdm, on stderr): shown only on a terminal, never with
`--quiet` or `--json` (a script reading JSON gets JSON and nothing else)."""

from __future__ import annotations

import argparse
import sys
from types import TracebackType

from tqdm import tqdm


def wanted(args: argparse.Namespace) -> bool:
    return (sys.stderr.isatty() and not getattr(args, "quiet", False)
            and not getattr(args, "json", False))


class Bar:
    """One bar; call it as a core `Progress` (absolute counts) or `advance(n)` (increments).
    Disabled, it costs nothing and prints nothing."""

    def __init__(self, args: argparse.Namespace, desc: str, unit: str,
                 total: int | None = None) -> None:
        self.enabled = wanted(args)
        self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                         disable=not self.enabled, dynamic_ncols=True)

    def __call__(self, done: int, total: int | None, what: str) -> None:
        if not self.enabled:
            return
        if total != self._bar.total:
            self._bar.total = total
        self._bar.set_postfix_str(what, refresh=False)
        self._bar.n = done
        self._bar.refresh()  # the calls are sparse (a stage, a pass, a batch): draw each

    def advance(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
