"""Whole-graph export: JSON (nodes + edges, embeddings left out) or GraphML (via networkx)."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx

from expgraph.errors import UsageError
from expgraph.models import Label, Rel
from expgraph.store.base import GraphStore, to_networkx

FORMATS = ("json", "graphml")


def export_graph(store: GraphStore, path: Path, format: str = "json") -> Path:
    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if format == "json":
        nodes = [{"id": n.id, "label": n.label.value, "text": n.text, "props": n.props}
                 for label in Label for n in store.find_nodes(label)]
        edges = [{"src": e.src, "dst": e.dst, "type": e.type.value, "key": e.key,
                  "props": e.props} for rel in Rel for e in store.edges(rel)]
        with path.open("w", encoding="utf-8") as fh:
            json.dump({"namespace": store.namespace, "nodes": nodes, "edges": edges}, fh,
                      default=str)
        return path
    g = to_networkx(store)
    flat = nx.MultiDiGraph()
    for n, data in g.nodes(data=True):
        flat.add_node(n, **{k: _scalar(v) for k, v in data.items()})
    for u, v, k, data in g.edges(keys=True, data=True):
        flat.add_edge(u, v, key=k, **{a: _scalar(b) for a, b in data.items()})
    nx.write_graphml(flat, path)
    return path


def _scalar(v: object) -> object:
    """GraphML holds scalars only: lists and dicts go in as JSON text."""
    if v is None:
        return ""
    if isinstance(v, (str, int, float, bool)):
        return v
    return json.dumps(v, default=str)
