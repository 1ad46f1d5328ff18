"""Shared reading helpers: JSON vs JSONL, record positions, per-record error capture."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expgraph.models import Episode, Provenance
from ingestion.errors import RECORD_EXCEPTIONS, ParseError, as_parse_error

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".jsonlines"}
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Located:
    """A raw record and where it came from: `error_pos` (ParseError), `prov_pos` (provenance)."""

    value: Any
    error_pos: str
    prov_pos: str


def line_pos(n: int) -> Located:
    return Located(None, str(n), f"line {n}")


def open_text(path: Path):  # noqa: ANN201 - a text file object
    """UTF-8 text (BOM dropped); undecodable bytes past the sniffed head become U+FFFD."""
    return path.open("r", encoding="utf-8-sig", errors="replace", newline=None)


def _first_lines(path: Path, n: int = 2) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    with open_text(path) as fh:
        for i, line in enumerate(fh, 1):
            if line.strip():
                out.append((i, line))
                if len(out) >= n:
                    break
    return out


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def is_jsonl(path: Path) -> bool:
    """JSONL when the suffix says so, or when the first two non-blank lines are JSON each."""
    if path.suffix.lower() in JSONL_SUFFIXES:
        return True
    lines = _first_lines(path, 2)
    if len(lines) < 2:
        return False
    first, second = (ln.strip() for _, ln in lines)
    if _parses(first):
        return True
    # A broken first line of a JSONL file: the rest still reads line by line.
    return second[:1] in "{[" and _parses(second) and not _parses(_whole(path))


def _whole(path: Path) -> str:
    with open_text(path) as fh:
        return fh.read()


def iter_jsonl(path: Path) -> Iterator[Located | ParseError]:
    """One JSON value per non-blank line, streamed: memory stays flat whatever the file size."""
    name = str(path)
    with open_text(path) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                yield ParseError(name, str(n), f"invalid JSON: {e.msg} at column {e.colno}")
                continue
            yield Located(value, str(n), f"line {n}")


def load_json(path: Path) -> Any | ParseError:
    try:
        with open_text(path) as fh:
            return json.load(fh)
    except json.JSONDecodeError as e:
        return ParseError(str(path), str(e.lineno), f"invalid JSON: {e.msg} at column {e.colno}")


def iter_records(
    path: Path, split: Callable[[Any], list[Any]]
) -> Iterator[Located | ParseError]:
    """Records of a JSON or JSONL file. A JSONL line is one record as it is; a JSON document
    is cut into records by `split` (format-specific), positioned `episode N`."""
    if is_jsonl(path):
        yield from iter_jsonl(path)
        return
    doc = load_json(path)
    if isinstance(doc, ParseError):
        yield doc
        return
    try:
        records = split(doc)
    except RECORD_EXCEPTIONS as e:
        yield as_parse_error(str(path), "episode 0", e)
        return
    for i, rec in enumerate(records):
        yield Located(rec, f"episode {i}", f"episode {i}")


def build(
    file: str, loc: Located, fn: Callable[..., Episode], *args: Any, **kwargs: Any
) -> Episode | ParseError:
    """Run an adapter's record function; a malformed record becomes a ParseError."""
    try:
        ep = fn(*args, **kwargs)
    except RECORD_EXCEPTIONS as e:
        return as_parse_error(file, loc.error_pos, e)
    ep.provenance = Provenance(file=file, position=loc.prov_pos)
    return ep


def get_path(obj: Any, path: str) -> Any:
    """`a.b.0.c` into nested dicts/lists; None when any part is missing."""
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return None
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return cur


def text_of(content: Any) -> str:
    """Message content as text: strings as they are, OpenAI/LangChain content parts joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    if isinstance(content, dict | int | float | bool):
        return json.dumps(content, ensure_ascii=False)
    return str(content)


def read_records(path: Path, split: Callable[[Any], list[Any]],
                 make: Callable[..., Episode], *args: Any) -> Iterator[Episode | ParseError]:
    """The read loop of every JSON/JSONL adapter: each record through `make(record, *args)`,
    a bad record as a ParseError, the rest of the file still read."""
    file = str(path)
    for loc in iter_records(path, split):
        yield loc if isinstance(loc, ParseError) else build(file, loc, make, loc.value, *args)
