"""Errors of ingestion: a bad record (reported, reading goes on) and a bad file (reading stops).

`ParseError` is yielded in place of an episode, so one broken line in a 1-GB log costs one
line, never the file. `FormatError` is raised for problems with the whole input.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from expgraph.errors import UsageError


@dataclass(frozen=True)
class ParseError:
    """One record that could not be read. `position` is the 1-based line number for JSONL
    (`12`) and `episode N` (0-based, in file order) for other layouts."""

    file: str
    position: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.position}: {self.reason}"


class FormatError(UsageError):
    """The whole input cannot be read (missing, a directory, empty, binary, unknown format).
    The message is always a single line, ready for a CLI to print."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class RecordError(ValueError):
    """Raised by adapters for a record they cannot turn into an episode; becomes a ParseError."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{reason} (field {field})" if field else reason)


def describe_validation(err: ValidationError) -> str:
    """`Field required (field steps.0.action)`: the first pydantic error, with its location."""
    errors = err.errors(include_url=False)
    if not errors:
        return "invalid episode"
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ()))
    text = str(first.get("msg", "invalid value")).replace("\n", " ")
    if loc:
        text += f" (field {loc})"
    if len(errors) > 1:
        text += f" (+{len(errors) - 1} more)"
    return text


# Exceptions an adapter may raise on malformed input; anything else is a bug and propagates.
RECORD_EXCEPTIONS = (
    RecordError, ValidationError, KeyError, TypeError, ValueError, AttributeError, IndexError,
)


def as_parse_error(file: str, position: str, exc: BaseException) -> ParseError:
    if isinstance(exc, ValidationError):
        return ParseError(file, position, describe_validation(exc))
    if isinstance(exc, RecordError):
        return ParseError(file, position, str(exc))
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())
    return ParseError(file, position, reason)
