"""Format detection and the single entry point for reading agent logs.

`open_source(path)` checks the file (missing, directory, empty, binary: `FormatError`), picks the
adapter (`format="auto"` sniffs the first 64 KiB in `DETECTION_ORDER`), and returns its stream
of `Episode | ParseError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from expgraph.models import Episode
from ingestion._io import HEAD_BYTES
from ingestion.adapters import ADAPTERS, DETECTION_ORDER, Adapter
from ingestion.adapters.generic import MAP_SYNTAX, GenericAdapter, MappingError
from ingestion.errors import FormatError, ParseError
from ingestion.objects import episodes_from_object

SUPPORTED_FORMATS: tuple[str, ...] = (*(a.name for a in DETECTION_ORDER), "generic")

__all__ = ["SUPPORTED_FORMATS", "detect_format", "episodes_from_object", "open_source",
           "read_head"]


def _formats_hint() -> str:
    return (f"supported formats: {', '.join(SUPPORTED_FORMATS)}; pass --format NAME, or "
            f"--format generic --map '{MAP_SYNTAX}' for any other JSON/JSONL layout")


# The one rule for text inputs: a file is binary (rejected whole, one line) when NULs, control
# bytes and undecodable bytes make up this share of its first 64 KiB; otherwise each record
# holding such a byte is rejected on its own, with its line, and the rest is read.
BINARY_SHARE = 0.05
_TEXT_CONTROLS = set(b"\t\n\r\f\x1b")
_MAGIC = (b"\x1f\x8b", b"PK\x03\x04", b"\x89PNG", b"SQLite format 3\x00", b"%PDF", b"\x7fELF",
          b"BZh", b"\xfd7zXZ\x00", b"(\xb5/\xfd")


def _looks_binary(data: bytes) -> bool:
    if data.startswith(_MAGIC):
        return True
    decoded = data.decode("utf-8", errors="surrogateescape")
    odd = sum(1 for c in decoded if ("\udc80" <= c <= "\udcff")
              or (ord(c) < 32 and ord(c) not in _TEXT_CONTROLS))
    return odd >= BINARY_SHARE * max(len(decoded), 1)


def read_head(path: Path | str) -> str:
    """The first 64 KiB as text, after checking the file can be read at all."""
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    if path.is_dir():
        raise FormatError(f"{path}: is a directory, not a file (pass the log files themselves)")
    try:
        with path.open("rb") as fh:
            data = fh.read(HEAD_BYTES)
    except OSError as e:
        raise FormatError(f"{path}: cannot read: {e.strerror or e}") from None
    if not data.strip():
        raise FormatError(f"{path}: empty file")
    if _looks_binary(data):
        raise FormatError(f"{path}: binary file (NUL or undecodable bytes in "
                          f"{BINARY_SHARE:.0%} or more of its first bytes), not an agent log")
    # Undecodable bytes stay as surrogates here as in the readers (see `ingestion._io`): the
    # record holding one is rejected with its line, wherever in the file it is.
    text = data.decode("utf-8", errors="surrogateescape")
    return text.removeprefix("\ufeff")


def detect_format(path: Path | str) -> str:
    """The name of the first adapter (in `DETECTION_ORDER`) whose sniff accepts the file."""
    path = Path(path)
    head = read_head(path)
    for adapter in DETECTION_ORDER:
        if adapter.sniff(path, head):
            return adapter.name
    raise FormatError(f"{path}: unrecognised format; {_formats_hint()}")


def get_adapter(fmt: str, mapping: Mapping[str, str] | str | None = None) -> Adapter:
    if fmt == "generic":
        if not mapping:
            raise FormatError(f"--format generic needs --map '{MAP_SYNTAX}'")
        try:
            return GenericAdapter(mapping)
        except MappingError as e:
            raise FormatError(str(e)) from None
    if fmt not in ADAPTERS:
        raise FormatError(f"unknown format {fmt!r}; {_formats_hint()}")
    return ADAPTERS[fmt]


def open_source(
    path: Path | str, format: str = "auto", mapping: Mapping[str, str] | str | None = None
) -> Iterator[Episode | ParseError]:
    """Episodes (and ParseErrors for bad records) of one file. A mapping implies `generic`.
    Raises FormatError at once for a file that cannot be read as a whole."""
    path = Path(path)
    fmt = format or "auto"
    if fmt == "auto" and mapping:
        fmt = "generic"
    adapter = get_adapter(fmt, mapping) if fmt != "auto" else None
    if adapter is None:
        adapter = ADAPTERS[detect_format(path)]
    else:
        read_head(path)  # the same whole-file checks as detection
    return adapter.read(path)
