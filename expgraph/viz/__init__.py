"""Drawing the experience graph: an offline, self-contained interactive HTML view and static
matplotlib figures, over six views of one store (or several namespaces of it).

>>> graph.draw(view="hierarchy", out="skills.html")
>>> graph.draw(view="transitions", cluster=3, out="cluster3.pdf")
"""

from __future__ import annotations

import html as _html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from expgraph.errors import UsageError
from expgraph.store.base import GraphStore
from expgraph.viz import paths, views
from expgraph.viz.cypher import cypher_for
from expgraph.viz.html import render_html, write_html
from expgraph.viz.scene import DEFAULT_MAX_NODES, Scene, build_scene
from expgraph.viz.source import Source
from expgraph.viz.views import Filters, ViewGraph

VIEWS = ("hierarchy", "failures", "transitions", "episode", "query", "overview")
HTML_SUFFIXES = (".html", ".htm")

__all__ = ["VIEWS", "DEFAULT_MAX_NODES", "Drawing", "Scene", "cypher_for", "draw", "scene",
           "render_html"]


@dataclass
class Drawing:
    """What `draw` made: the scene (nodes, edges, layout) and the file written, if any.
    In a notebook it shows itself inline."""

    scene: Scene
    path: Path | None = None

    @property
    def drawn_nodes(self) -> int:
        return self.scene.drawn_nodes

    @property
    def total_nodes(self) -> int:
        return self.scene.total_nodes

    @property
    def note(self) -> str:
        return self.scene.note

    def _repr_html_(self) -> str:
        page = _html.escape(render_html(self.scene), quote=True)
        return f'<iframe srcdoc="{page}" style="width:100%;height:640px;border:1px solid #ddd">' \
               "</iframe>"


def _parts(graph: Any) -> tuple[GraphStore, Any]:
    """(store, facade or None) from an ExperienceGraph or a bare GraphStore."""
    store = getattr(graph, "store", graph)
    if not isinstance(store, GraphStore):
        raise TypeError(f"draw() needs an ExperienceGraph or a GraphStore, not {type(graph)!r}")
    return store, (graph if store is not graph else None)


def _view_graph(graph: Any, view: str, f: Filters, kw: dict[str, Any]) -> ViewGraph:
    store, facade = _parts(graph)
    src = Source(store)
    if view == "hierarchy":
        return views.hierarchy(src, f)
    if view == "failures":
        return views.failures(src, f)
    if view == "overview":
        return views.overview(src, f, with_episodes=bool(kw.get("with_episodes")))
    if view == "transitions":
        return paths.transitions(src, f)
    if view == "episode":
        if not kw.get("episode"):
            raise UsageError("the episode view needs an episode: episode=<id or ingest number>")
        return paths.episode(src, f, str(kw["episode"]))
    if view == "query":
        text = kw.get("query")
        if not text:
            raise UsageError("the query view needs the query text: query='what the agent sees'")
        embedder = kw.get("embedder") or (facade.embedder if facade is not None else None)
        if embedder is None:
            from expgraph.embedder import CachedEmbedder, default_embedder

            embedder = CachedEmbedder(default_embedder(), store)
        results = kw.get("results")
        if results is None:
            if facade is None:
                raise UsageError("the query view on a bare store needs results=...; "
                                 "pass an ExperienceGraph to run the query")
            results = facade.query(text, task=kw.get("task"), k=int(kw.get("k") or 10),
                                   explain=True)
        return paths.query(src, f, text, results, embedder.embed)
    raise UsageError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")


def scene(graph: Any, view: str = "hierarchy", *, labels: Sequence[str] | None = None,
          tiers: Sequence[str] | None = None, cluster: int | None = None,
          include_inactive: bool = False, max_nodes: int = DEFAULT_MAX_NODES,
          **kw: Any) -> Scene:
    """Build (but do not write) a view. `graph` may be a list of graphs, one per namespace,
    drawn together; the page's namespace filter then separates them."""
    if max_nodes < 1:
        raise UsageError("max_nodes must be at least 1")
    f = Filters(labels=set(labels) if labels else None, tiers=set(tiers) if tiers else None,
                cluster=cluster, include_inactive=include_inactive)
    graphs = list(graph) if isinstance(graph, (list, tuple)) else [graph]
    if not graphs:
        raise UsageError("draw() needs at least one graph")
    if len(graphs) > 1 and view in ("episode", "query"):
        raise UsageError(f"the {view} view draws one namespace; pass one graph")
    vgs = [_view_graph(g, view, f, kw) for g in graphs]
    vg = vgs[0]
    if len(vgs) > 1:
        merged = nx.MultiDiGraph()
        for one, g in zip(vgs, graphs, strict=True):
            ns = _parts(g)[0].namespace
            merged = nx.compose(merged, nx.relabel_nodes(one.g, lambda n, ns=ns: f"{ns}/{n}"))
        vg.g = merged
        vg.note = "; ".join(dict.fromkeys(v.note for v in vgs if v.note))
    return build_scene(view, vg.title, vg.g, max_nodes=max_nodes, layout=vg.layout,
                       orientation=vg.orientation, fixed=vg.fixed, layers=vg.layers,
                       note=vg.note)


def draw(graph: Any, view: str = "hierarchy", out: str | Path | None = None,
         **kw: Any) -> Drawing:
    """Draw a view to `out`: `.html` (interactive, offline) or `.png` / `.svg` / `.pdf`
    (matplotlib); without `out` the drawing only shows inline in a notebook.

    Keywords: labels, tiers, cluster, include_inactive, max_nodes (default 1500; beyond it
    the least supported nodes are aggregated), episode (episode view), query / task / k /
    results / embedder (query view), with_episodes (overview).
    """
    sc = scene(graph, view, **kw)
    if out is None:
        return Drawing(sc)
    path = Path(out)
    if not path.parent.exists():
        raise UsageError(f"folder {path.parent} does not exist; create it first")
    if path.suffix.lower() in HTML_SUFFIXES:
        return Drawing(sc, write_html(sc, path))
    from expgraph.viz.static import render_figure

    return Drawing(sc, render_figure(sc, path))
