"""Upserts held until their transaction commits, merged into one `UNWIND` statement per shape.

Inside `Neo4jStore.transaction()` node and edge upserts are not sent one call at a time: rows
of the same shape (label or relationship type + accumulated props) are gathered, so a batch
of episodes costs a few round trips instead of a few per episode, and the whole batch is sent
as one retryable unit of work. Generic over labels and relationship types.

Merging keeps the result of sending the calls one by one: a later row replaces an earlier one
of the same id, accumulated props add up, an embedding or `created_at` already given is kept.
If a row's id is already pending under another shape, the pending groups are sealed first,
so calls that touch the same entity in two shapes still land in their order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from expgraph.store import neo4j_cypher as cy
from expgraph.store.base import iter_batches

log = logging.getLogger(__name__)


@dataclass
class _Group:
    kind: str  # "nodes" | "edges"
    name: str  # label or relationship type
    acc: tuple[str, ...]
    rows: dict[Any, dict[str, Any]] = field(default_factory=dict)


def _merge_row(old: dict[str, Any], new: dict[str, Any], acc: tuple[str, ...]) -> dict[str, Any]:
    """`new` over `old`, as if sent after it: accumulated props summed, the first `ord` and
    `created_at` kept, and the old embedding kept when the new row has none."""
    props = dict(new["props"])
    for a in acc:
        props[a] = (old["props"].get(a) or 0) + (new["props"].get(a) or 0)
    row = {**new, "props": props}
    if "ord" in old:
        row["ord"] = old["ord"]
    if old.get("created_at") is not None:
        row["created_at"] = old["created_at"]
    if new.get("embedding") is None and old.get("embedding") is not None:
        row["embedding"] = old["embedding"]
    return row


class PendingWrites:
    """Node and edge rows waiting for the commit, grouped by shape in first-seen order."""

    def __init__(self) -> None:
        self._sealed: list[_Group] = []
        self._open: dict[tuple[str, str, tuple[str, ...]], _Group] = {}
        self._owner: dict[Any, tuple[str, str, tuple[str, ...]]] = {}  # row key -> shape

    def __bool__(self) -> bool:
        return bool(self._sealed or self._open)

    def add(self, kind: str, name: str, acc: tuple[str, ...], rows: list[dict[str, Any]],
            key: Callable[[dict[str, Any]], Any]) -> None:
        shape = (kind, name, acc)
        if any(self._owner.get(key(r), shape) != shape for r in rows):
            self._seal()
        group = self._open.setdefault(shape, _Group(kind, name, acc))
        for r in rows:
            k = key(r)
            old = group.rows.get(k)
            group.rows[k] = r if old is None else _merge_row(old, r, acc)
            self._owner[k] = shape

    def _seal(self) -> None:
        """Nodes before edges (an edge needs both ends), each in first-seen order."""
        groups = list(self._open.values())
        self._sealed += [g for g in groups if g.kind == "nodes"]
        self._sealed += [g for g in groups if g.kind == "edges"]
        self._open, self._owner = {}, {}

    def statements(self, batch_size: int) -> Iterator[tuple[str, str, dict[str, Any], int]]:
        """(kind, Cypher, parameters, rows) for every pending batch, in the order to send."""
        self._seal()
        for g in self._sealed:
            q = (cy.upsert_nodes(g.name, g.acc) if g.kind == "nodes"
                 else cy.upsert_edges(g.name, g.acc))
            for batch in iter_batches(list(g.rows.values()), batch_size):
                yield g.kind, q, {"rows": batch, "acc": list(g.acc)}, len(batch)

    def send(self, tx: Any, batch_size: int, namespace: str) -> None:
        """Run every pending batch in `tx` (retried as a whole by the driver), then forget them
        only once the caller's unit of work has succeeded (`clear`)."""
        sent = done = 0
        for kind, q, params, n in self.statements(batch_size):
            if kind == "nodes":
                tx.run(q, params).consume()
            else:
                sent += n
                done += tx.run(q, params).single()["n"]
        if done < sent:
            log.warning("%d of %d edges skipped: an endpoint node does not exist in namespace %r",
                        sent - done, sent, namespace)

    def clear(self) -> None:
        self._sealed, self._open, self._owner = [], {}, {}
