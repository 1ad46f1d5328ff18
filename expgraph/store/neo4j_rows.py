"""Property layout of the Bolt store: records to Cypher parameter rows and back.

A node keeps `props_json` (the full props dict; Bolt properties can't hold nested maps)
plus top-level copies of scalar and list-of-scalar props, so Cypher can filter and index
them and Neo4j Browser shows them. Accumulated counters and `created_at` are updated in
Cypher, so their top-level copies are authoritative and are laid over `props_json` on read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from expgraph.models import EdgeRecord, Label, NodeRecord, Rel
from expgraph.store.base import check_prop_names

RESERVED = frozenset({"uid", "id", "namespace", "text", "embedding", "props_json", "key",
                      "_ord", "_acc", "_new"})
_INT64 = 2**63


def uid(namespace: str, id_: str) -> str:
    """The globally unique key: ids are only unique per namespace."""
    return f"{namespace}:{id_}"


def top_name(key: str) -> str:
    """The top-level property that mirrors prop `key` (reserved names get a `prop_` prefix)."""
    return f"prop_{key}" if key in RESERVED else key


def prop_key(name: str) -> str:
    if name.startswith("prop_") and name[5:] in RESERVED:
        return name[5:]
    return name


def ident(name: str) -> str:
    """A backtick-quoted Cypher identifier (property keys may be any string)."""
    return "`" + name.replace("`", "``") + "`"


def scalar_value(v: Any) -> Any:
    """The Bolt value for a prop, or None when it can't be a top-level property."""
    if isinstance(v, bool) or isinstance(v, str) or isinstance(v, float):
        return v
    if isinstance(v, int):
        return v if -_INT64 <= v < _INT64 else None
    if isinstance(v, (list, tuple)):
        kinds = {type(x) for x in v}
        if len(kinds) <= 1 and kinds <= {str, bool, int, float}:
            return [scalar_value(x) for x in v] if None not in map(scalar_value, v) else None
    return None


def where_value(v: Any) -> Any:
    return v.value if hasattr(v, "value") and not isinstance(v, (int, float, str)) else v


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


def float32_list(vec: Sequence[float] | np.ndarray | None) -> list[float] | None:
    """Round through float32, like the embedded store, so copies round-trip exactly."""
    if vec is None:
        return None
    return np.asarray(vec, dtype=np.float32).ravel().astype(np.float64).tolist()


def top_level(props: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in props.items():
        sv = scalar_value(v)
        if sv is not None:
            out[top_name(k)] = sv
    return out


def node_row(n: NodeRecord, namespace: str, ord_: int) -> dict[str, Any]:
    props = {**top_level(n.props), "uid": uid(namespace, n.id), "id": n.id,
             "namespace": namespace, "text": n.text, "props_json": dumps(n.props)}
    return {"uid": props["uid"], "ord": ord_, "embedding": float32_list(n.embedding),
            "props": props, "created_at": n.props.get("created_at")}


def edge_row(e: EdgeRecord, namespace: str) -> dict[str, Any]:
    props = {**top_level(e.props), "key": e.key, "namespace": namespace,
             "props_json": dumps(e.props)}
    return {"s": uid(namespace, e.src), "d": uid(namespace, e.dst), "key": e.key,
            "props": props}


def _overlay(props: dict[str, Any], acc: list[list[Any]] | None) -> dict[str, Any]:
    for name, value in acc or ():
        if value is not None:
            props[prop_key(name)] = value
    return props


# The RETURN columns every read uses, and the matching decoders.
EDGE_COLUMNS = ("{a}.id AS src, type({r}) AS type, {b}.id AS dst, {r}.key AS key, "
                "{r}.props_json AS props, [k IN coalesce({r}._acc, []) | [k, {r}[k]]] AS acc")


def node_columns(v: str = "n", with_embedding: bool = False, prefix: str = "") -> str:
    """Node columns for variable `v`, aliased `<prefix>id`, `<prefix>label`, ..."""
    p = prefix
    cols = (f"{v}.id AS {p}id, [l IN labels({v}) WHERE l <> 'ExpNode'][0] AS {p}label, "
            f"{v}.text AS {p}text, {v}.props_json AS {p}props, "
            f"{v}.created_at AS {p}created_at, "
            f"[k IN coalesce({v}._acc, []) | [k, {v}[k]]] AS {p}acc")
    return cols + (f", {v}.embedding AS {p}embedding" if with_embedding else "")


def edge_columns(a: str = "a", r: str = "r", b: str = "b") -> str:
    return EDGE_COLUMNS.format(a=a, r=r, b=b)


def to_node(row: dict[str, Any], namespace: str, prefix: str = "") -> NodeRecord:
    g: Callable[[str], Any] = lambda k: row.get(prefix + k)  # noqa: E731
    props = _overlay(json.loads(g("props") or "{}"), g("acc"))
    if g("created_at") is not None:
        props["created_at"] = g("created_at")
    emb = g("embedding")
    return NodeRecord(id=g("id"), label=Label(g("label")), text=g("text") or "", props=props,
                      embedding=list(emb) if emb is not None else None, namespace=namespace)


def to_edge(row: dict[str, Any], namespace: str) -> EdgeRecord:
    props = _overlay(json.loads(row.get("props") or "{}"), row.get("acc"))
    return EdgeRecord(src=row["src"], dst=row["dst"], type=Rel(row["type"]),
                      key=row.get("key") or "", props=props, namespace=namespace)


def where_args(where: dict[str, Any] | None, prefix: str = "w") -> tuple[list[str], dict[str, Any]]:
    """The filter's prop names (for `neo4j_cypher.where_cypher`) and its parameters."""
    keys = list(where or {})
    return keys, {f"{prefix}{i}": where_value(v) for i, v in enumerate((where or {}).values())}


def check_accumulate(accumulate: Sequence[str]) -> list[str]:
    """Top-level names of accumulated props; like the embedded store, plain identifiers only."""
    return [top_name(k) for k in check_prop_names(accumulate)]
