"""Shared reading helpers: JSON vs JSONL, record positions, per-record error capture."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expgraph.models import Episode, Provenance
from ingestion.errors import RECORD_EXCEPTIONS, ParseError, as_parse_error

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".jsonlines"}
HEAD_BYTES = 64 * 1024
# Deeper values are rejected per record: real agent logs nest a few levels, and a value deeper
# than this cannot be stored or serialised reliably (recursion limits of json and pydantic).
MAX_DEPTH = 100
TOO_DEEP = f"too deeply nested (more than {MAX_DEPTH} levels of arrays/objects)"
# A NUL, or a surrogate: an undecodable byte (read with surrogateescape) or a lone \uD800 escape.
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Located:
    """A raw record and where it came from: `error_pos` (ParseError), `prov_pos` (provenance)."""

    value: Any
    error_pos: str
    prov_pos: str


def line_pos(n: int) -> Located:
    return Located(None, str(n), f"line {n}")


def open_text(path: Path):  # noqa: ANN201 - a text file object
    """UTF-8 text (BOM dropped). An undecodable byte is kept as a lone surrogate
    (surrogateescape), so the record holding it is found and rejected, never silently altered."""
    return path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline=None)


def char_problem(text: str, raw: bool) -> str | None:
    """Why `text` cannot be stored as text, or None. `raw`: `text` was read from the file as it
    is (a surrogate there is an undecodable byte), not decoded from a JSON string escape."""
    m = _BAD_CHAR.search(text)
    if m is None:
        return None
    c, col = m.group(), m.start() + 1
    if c == "\x00":
        return f"NUL byte at column {col} (binary data in a text record)"
    if raw and "\udc80" <= c <= "\udcff":
        return f"not UTF-8 text: undecodable byte 0x{ord(c) - 0xDC00:02x} at column {col}"
    if "\udc80" <= c <= "\udcff":  # surrogateescape of a byte, or the same JSON escape
        return (f"invalid text: undecodable byte 0x{ord(c) - 0xDC00:02x} or lone surrogate "
                f"\\u{ord(c):04x} at character {col}")
    return f"invalid Unicode: lone surrogate \\u{ord(c):04x} at character {col}"


def lines_problem(file: str, pos: str,
                  lines: Iterable[tuple[int, str]]) -> ParseError | None:
    """For text logs: the first numbered line holding an undecodable byte or a NUL, as the
    ParseError of the record `pos` it belongs to (positioned by that line)."""
    for n, line in lines:
        bad = char_problem(line, raw=True)
        if bad:
            return ParseError(file, f"line {n}", f"{bad} ({pos})")
    return None


def value_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a decoded JSON value cannot be stored, or None: nesting deeper than `max_depth`, or
    a string (or key) holding a lone surrogate or NUL. Iterative: any depth is safe to check."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        v, depth, where = stack.pop()
        if isinstance(v, str):
            bad = char_problem(v, raw=False)
            if bad:
                return f"{bad}{' (field ' + where + ')' if where else ''}"
        elif isinstance(v, dict | list):
            if depth > max_depth:
                return TOO_DEEP
            items = v.items() if isinstance(v, dict) else enumerate(v)
            for k, child in items:
                key = str(k)
                if isinstance(k, str) and (bad := char_problem(k, raw=False)):
                    return f"{bad} (a key in field {where or '(root)'})"
                stack.append((child, depth + 1, f"{where}.{key}" if where else key))
    return None


def episode_problem(ep: Episode) -> str | None:
    """`value_problem` for what an adapter built: the texts, metadata and arguments (which an
    adapter may have parsed from a JSON string) of one episode."""
    texts: list[tuple[str, Any]] = [("task", ep.task), ("agent", ep.agent),
                                    ("metadata", ep.metadata)]
    for i, st in enumerate(ep.steps):
        texts += [(f"steps.{i}.observation", st.observation), (f"steps.{i}.result", st.result),
                  (f"steps.{i}.thought", st.thought), (f"steps.{i}.action.name", st.action.name),
                  (f"steps.{i}.action.raw", st.action.raw),
                  (f"steps.{i}.action.arguments", st.action.arguments)]
    for where, v in texts:
        if v is None:
            continue
        if isinstance(v, str):
            bad = char_problem(v, raw=False)
            if bad:
                return f"{bad} (field {where})"
            continue
        bad = value_problem(v, MAX_DEPTH - 2)  # the episode's own levels count too
        if bad == TOO_DEEP:
            return f"{bad} (field {where})"
        if bad:
            return bad.replace("(field ", f"(field {where}.", 1)
    return None


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
    except (ValueError, RecursionError):
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
            bad = char_problem(line, raw=True)
            if bad:
                yield ParseError(name, str(n), bad)
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                yield ParseError(name, str(n), f"invalid JSON: {e.msg} at column {e.colno}")
                continue
            except RecursionError:
                yield ParseError(name, str(n), TOO_DEEP)
                continue
            bad = value_problem(value)
            if bad:
                yield ParseError(name, str(n), bad)
                continue
            yield Located(value, str(n), f"line {n}")


def load_json(path: Path) -> Any | ParseError:
    """A whole JSON document. Undecodable bytes stay as surrogates: the records holding them
    are rejected one by one (`value_problem`), the others are read."""
    try:
        with open_text(path) as fh:
            return json.load(fh, strict=False)  # a raw control char costs its record only
    except json.JSONDecodeError as e:
        return ParseError(str(path), str(e.lineno), f"invalid JSON: {e.msg} at column {e.colno}")
    except RecursionError:
        return _deep_document(path)


@dataclass(frozen=True)
class TooDeep:
    """Stands for an element of a top-level JSON array nested too deep to decode."""

    line: int


def _deep_document(path: Path) -> Any | ParseError:
    """A document too deep for `json.load`: when it is a top-level array, its elements are
    decoded one by one and a too-deep one becomes a `TooDeep` (rejected as its record)."""
    with open_text(path) as fh:
        text = fh.read()
    out: list[Any] = []
    for start, end in _array_spans(text) or []:
        try:
            out.append(json.loads(text[start:end], strict=False))
        except RecursionError:
            out.append(TooDeep(text.count("\n", 0, start) + 1))
        except json.JSONDecodeError as e:
            line = text.count("\n", 0, start) + e.lineno
            return ParseError(str(path), str(line), f"invalid JSON: {e.msg}")
    if not out:
        return ParseError(str(path), "1", TOO_DEEP)
    return out


_SCAN = re.compile(r'["\[\]{},]')


def _array_spans(text: str) -> list[tuple[int, int]] | None:
    """(start, end) of each element of a top-level JSON array, found without recursion;
    None when `text` is not an array."""
    i = len(text) - len(text.lstrip())
    if text[i:i + 1] != "[":
        return None
    spans: list[tuple[int, int]] = []
    depth, start, pos = 0, i + 1, i + 1
    while (m := _SCAN.search(text, pos)) is not None:
        c, pos = m.group(), m.end()
        if c == '"':
            while True:  # to the closing quote, skipping escapes
                q = text.find('"', pos)
                if q < 0:
                    return spans
                k = q - 1
                while text[k] == "\\":
                    k -= 1
                pos = q + 1
                if (q - 1 - k) % 2 == 0:  # an even run of backslashes: the quote closes
                    break
        elif c in "[{":
            depth += 1
        elif c in "]}" and depth:
            depth -= 1
        elif depth == 0:  # "," or the closing "]" of the top-level array
            seg = text[start:m.start()]
            if seg.strip():
                spans.append((start + len(seg) - len(seg.lstrip()), m.start()))
            start = pos
            if c == "]":
                break
    return spans


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
        deep = isinstance(rec, TooDeep)
        bad = f"{TOO_DEEP} (line {rec.line})" if deep else value_problem(rec)
        if bad:
            yield ParseError(str(path), f"episode {i}", bad)
            continue
        yield Located(rec, f"episode {i}", f"episode {i}")


def build(
    file: str, loc: Located, fn: Callable[..., Episode], *args: Any, **kwargs: Any
) -> Episode | ParseError:
    """Run an adapter's record function; a malformed record becomes a ParseError."""
    try:
        ep = fn(*args, **kwargs)
    except RECORD_EXCEPTIONS as e:
        return as_parse_error(file, loc.error_pos, e)
    except RecursionError:  # e.g. a tool call's `arguments` string nested 100k deep
        return ParseError(file, loc.error_pos, TOO_DEEP)
    bad = episode_problem(ep)
    if bad:
        return ParseError(file, loc.error_pos, bad)
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
