"""Canonical JSONL: one `expgraph.models.Episode` as JSON per line (a JSON list of them, or one
object, is read too). Validation errors are reported as `FILE:LINE: reason (field a.b.c)`.

A record's own `source_format` (e.g. an exported tau-bench episode) is kept; records without one
are `canonical`. Provenance always points at this file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from expgraph.models import Episode
from ingestion._io import read_records
from ingestion.errors import ParseError, RecordError

_OTHER_LAYOUTS = re.compile(r'"(messages|traj|trajectory|history)"\s*:')


def is_canonical_record(obj: Any) -> bool:
    return (isinstance(obj, Mapping) and "task" in obj
            and isinstance(obj.get("steps", []), list) and ("steps" in obj or "outcome" in obj)
            and not any(k in obj for k in ("messages", "traj", "trajectory", "history")))


def episode_from_canonical(obj: Any) -> Episode:
    if not isinstance(obj, Mapping):
        raise RecordError("an episode must be a JSON object")
    return Episode.model_validate(obj)


def split_episodes(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, Mapping):
        eps = doc.get("episodes")
        return list(eps) if isinstance(eps, list) else [doc]
    raise RecordError("expected episode objects")


class CanonicalAdapter:
    name = "canonical"

    def sniff(self, path: Path, head: str) -> bool:
        return (head.lstrip()[:1] in ("{", "[")
                and re.search(r'"task"\s*:', head) is not None
                and re.search(r'"steps"\s*:\s*\[', head) is not None
                and _OTHER_LAYOUTS.search(head) is None)

    def read(self, path: Path) -> Iterator[Episode | ParseError]:
        return read_records(path, split_episodes, episode_from_canonical)
