"""A scene: the drawn subgraph with its layout, ready for either renderer.

View builders (views.py, paths.py) return a networkx MultiDiGraph whose nodes carry display
attributes; this module caps its size (top nodes by support, the rest aggregated into group
nodes by label and tier), lays it out and flattens it to plain JSON-able records.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from expgraph.viz.style import edge_style, node_colour, node_radius, rate_colour

DEFAULT_MAX_NODES = 1500
ROW_WRAP = {"LR": 30, "TB": 10}  # nodes in a layer before it wraps onto another line


@dataclass
class Scene:
    """Everything a renderer needs; `nodes`/`edges` are plain dicts (see `to_records`)."""

    view: str
    title: str
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    total_nodes: int
    note: str = ""
    orientation: str = "LR"
    layers: list[str] = field(default_factory=list)  # names of layers, in order

    @property
    def drawn_nodes(self) -> int:
        return len(self.nodes)

    def data(self) -> dict[str, Any]:
        return {"view": self.view, "title": self.title, "note": self.note,
                "total": self.total_nodes, "nodes": self.nodes, "edges": self.edges,
                "layers": self.layers}


def add_node(g: nx.MultiDiGraph, nid: str, label: str, name: str, text: str = "", *,
             tier: str | None = None, status: str | None = None, evidence: list[str] | None = None,
             weight: float = 1.0, clusters: list[int] | None = None, namespace: str = "default",
             layer: int | None = None, highlight: bool = False) -> None:
    """Add (or update) a display node; the one place node attributes are named."""
    g.add_node(nid, label=label, name=_short(name), text=text[:700], tier=tier, status=status,
               evidence=evidence or [], weight=float(weight or 0.0),
               clusters=sorted(set(clusters or [])), namespace=namespace, layer=layer,
               highlight=highlight)


def add_edge(g: nx.MultiDiGraph, src: str, dst: str, rel: str, *, label: str = "",
             title: str = "", weight: float = 1.0, rate: float | None = None,
             highlight: bool = False) -> None:
    g.add_edge(src, dst, key=rel + ":" + label, type=rel, label=label, title=title or label,
               weight=float(weight), rate=rate, highlight=highlight)


def _short(s: str, n: int = 42) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 1] + "…"


# --------------------------------------------------------------------------- size cap


def cap(g: nx.MultiDiGraph, max_nodes: int) -> tuple[nx.MultiDiGraph, str]:
    """Keep the `max_nodes` most supported nodes (highlighted ones always) and fold the rest
    into one group node per (label, tier); returns the graph and the note to show."""
    total = g.number_of_nodes()
    if total <= max_nodes:
        return g, ""
    rank = sorted(g.nodes, key=lambda n: (not g.nodes[n]["highlight"], -g.nodes[n]["weight"],
                                          -g.degree(n), n))
    # Group by (label, tier); by label alone, or into one node, when the budget is tiny.
    for level in (2, 1, 0):
        def group_of(n: str, level: int = level) -> tuple[str, str]:
            d = g.nodes[n]
            return (d["label"] if level else "Group", (d.get("tier") or "") if level > 1 else "")

        keep_n = max_nodes  # the kept nodes plus one group node per folded group must fit
        while keep_n > 0 and keep_n + len({group_of(n) for n in rank[keep_n:]}) > max_nodes:
            keep_n -= 1
        if keep_n + len({group_of(n) for n in rank[keep_n:]}) <= max_nodes:
            break
    keep = set(rank[:keep_n])
    dropped = rank[keep_n:]
    out = g.subgraph(keep).copy()
    members: dict[tuple[str, str], list[str]] = defaultdict(list)
    for n in dropped:
        members[group_of(n)].append(n)
    gid_of: dict[str, str] = {}
    for (label, tier), ns in members.items():
        gid = f"group:{label}:{tier}"
        layers = Counter(g.nodes[n]["layer"] for n in ns)
        what = f"{tier} skills" if tier else "nodes" if label == "Group" else f"{label} nodes"
        add_node(out, gid, "Group", f"+{len(ns)} more {what}",
                 f"{len(ns)} {what} with the least support, folded into one node.",
                 tier=tier or None, weight=sum(g.nodes[n]["weight"] for n in ns),
                 clusters=sorted({c for n in ns for c in g.nodes[n]["clusters"]}),
                 namespace=g.nodes[ns[0]]["namespace"], layer=layers.most_common(1)[0][0],
                 evidence=[f"members: {len(ns)}", f"label: {label}"])
        out.nodes[gid]["group_label"] = label
        for n in ns:
            gid_of[n] = gid
    agg: Counter[tuple[str, str]] = Counter()
    for u, v in g.edges():
        a, b = gid_of.get(u, u), gid_of.get(v, v)
        if (u in gid_of or v in gid_of) and a != b:
            agg[(a, b)] += 1
    for (a, b), c in agg.items():
        add_edge(out, a, b, "AGGREGATE", title=f"{c} edges", weight=c)
    groups = f"{len(members)} group node" + ("s" if len(members) > 1 else "")
    note = (f"showing {len(keep)} of {total} nodes (highest support); the other "
            f"{len(dropped)} are aggregated into {groups} "
            + ("by label and tier" if level == 2 else "by label" if level else "(one group)"))
    return out, note


# --------------------------------------------------------------------------- layout


def layered_positions(g: nx.MultiDiGraph, orientation: str = "LR",
                      sweeps: int = 4) -> dict[str, tuple[float, float]]:
    """Layers along one axis, order within a layer by the barycentre of neighbours in the
    previous layer (a few down/up sweeps cut most crossings). Long layers wrap."""
    layers: dict[int, list[str]] = defaultdict(list)
    for n, d in g.nodes(data=True):
        layers[int(d.get("layer") or 0)].append(n)
    keys = sorted(layers)
    for k in keys:
        layers[k].sort(key=lambda n: (-g.nodes[n]["weight"], g.nodes[n]["name"]))
    und = g.to_undirected(as_view=True)
    pos_in: dict[str, float] = {n: i for k in keys for i, n in enumerate(layers[k])}
    for s in range(sweeps):
        order = keys if s % 2 == 0 else list(reversed(keys))
        for i, k in enumerate(order[1:], 1):
            prev = set(layers[order[i - 1]])
            def bary(n: str, prev: set[str] = prev) -> float:
                nb = [pos_in[m] for m in und.neighbors(n) if m in prev]
                return sum(nb) / len(nb) if nb else pos_in[n]
            layers[k].sort(key=bary)
            pos_in.update({n: j for j, n in enumerate(layers[k])})
    pos: dict[str, tuple[float, float]] = {}
    major = 0.0
    for k in keys:
        row = layers[k]
        wrap = ROW_WRAP[orientation]
        lines = [row[i:i + wrap] for i in range(0, len(row), wrap)]
        for line in lines:
            for j, n in enumerate(line):
                minor = j - (len(line) - 1) / 2
                pos[n] = (major, minor) if orientation == "LR" else (minor, major)
            major += 1.0
        major += 0.6
    return pos


def spring_positions(g: nx.MultiDiGraph, fixed: dict[str, tuple[float, float]] | None = None,
                     seed: int = 7) -> dict[str, tuple[float, float]]:
    """Force-directed layout per connected component (deterministic seed), components packed
    in rows, largest first, so a few isolated nodes do not squash the rest into a corner."""
    simple = nx.Graph(g.to_undirected(as_view=True))
    simple.remove_edges_from(nx.selfloop_edges(simple))
    comps = sorted(nx.connected_components(simple), key=lambda c: (-len(c), min(c)))
    pos: dict[str, tuple[float, float]] = {}
    row_w = 2.2 * max(len(comps[0]), 1) ** 0.5 if comps else 1.0
    x = y = row_h = 0.0
    for comp in comps:
        side = len(comp) ** 0.5  # a component gets room in proportion to its node count
        if len(comp) == 1:
            local = {next(iter(comp)): (0.0, 0.0)}
        else:
            sub = simple.subgraph(comp)
            fx = {n: p for n, p in (fixed or {}).items() if n in comp}
            local = {n: (float(p[0]), float(p[1])) for n, p in nx.spring_layout(
                sub, k=1.2 / side, seed=seed, iterations=60 if len(comp) < 800 else 30,
                pos=fx or None, fixed=list(fx) or None, scale=side / 2, center=(0, 0)).items()}
        if x > 0 and x + side > row_w:
            x, y, row_h = 0.0, y + row_h + 0.8, 0.0
        for n, (px, py) in local.items():
            pos[n] = (x + side / 2 + px, y + side / 2 + py)
        x += side + 0.8
        row_h = max(row_h, side)
    return pos


# Layout units per step: about one screen pixel at the page's initial zoom, so names fit.
SPACING = {"LR": (250.0, 60.0), "TB": (250.0, 170.0), "fixed": (230.0, 110.0)}
SPRING_UNIT = 150.0


def _fit(pos: dict[str, tuple[float, float]], step: tuple[float, float] | None,
         pad: float = 60.0) -> dict[str, tuple[float, float]]:
    """Scale positions to layout units: `step` units per unit of x / y."""
    if not pos:
        return {}
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    sx, sy = step or (SPRING_UNIT, SPRING_UNIT)
    return {k: (pad + (x - min(xs)) * sx, pad + (y - min(ys)) * sy) for k, (x, y) in pos.items()}


def build_scene(view: str, title: str, g: nx.MultiDiGraph, *, max_nodes: int,
                layout: str = "layered", orientation: str = "LR",
                fixed: dict[str, tuple[float, float]] | None = None,
                layers: list[str] | None = None, note: str = "") -> Scene:
    total = g.number_of_nodes()
    g, cap_note = cap(g, max_nodes)
    if layout == "layered":
        pos = _fit(layered_positions(g, orientation), SPACING[orientation])
    elif layout == "fixed" and fixed and all(n in fixed for n in g):
        pos = _fit(fixed, SPACING["fixed"])
    else:
        pos = _fit(spring_positions(g, fixed={n: p for n, p in (fixed or {}).items() if n in g}),
                   None)
    return Scene(view=view, title=title, nodes=_node_records(g, pos), edges=_edge_records(g),
                 total_nodes=total, note="; ".join(x for x in (note, cap_note) if x),
                 orientation=orientation, layers=layers or [])


def _node_records(g: nx.MultiDiGraph, pos: dict[str, tuple[float, float]]) -> list[dict]:
    wmax = max((d["weight"] for _, d in g.nodes(data=True)), default=1.0)
    out = []
    for n, d in g.nodes(data=True):
        x, y = pos.get(n, (0.0, 0.0))
        label = d["label"]
        colour = node_colour(d.get("group_label", label) if label == "Group" else label,
                             d.get("tier"))
        out.append({"id": n, "label": label, "tier": d.get("tier"), "name": d["name"],
                    "text": d["text"], "status": d.get("status"), "ev": d["evidence"],
                    "w": round(d["weight"], 3), "r": round(node_radius(d["weight"], wmax), 1),
                    "c": colour, "x": round(x, 1), "y": round(y, 1), "cl": d["clusters"],
                    "ns": d["namespace"], "hl": bool(d["highlight"]),
                    "group": label == "Group", "gl": d.get("group_label", label)})
    return out


def _edge_records(g: nx.MultiDiGraph) -> list[dict]:
    index = {n: i for i, n in enumerate(g.nodes)}
    out = []
    for u, v, d in g.edges(data=True):
        colour, dash, _ = edge_style(d["type"])
        if d.get("rate") is not None:
            colour = rate_colour(d["rate"])
        out.append({"s": index[u], "t": index[v], "type": d["type"], "label": d["label"],
                    "title": d["title"], "w": d["weight"], "rate": d.get("rate"),
                    "c": colour, "dash": dash, "hl": bool(d.get("highlight"))})
    return out
