"""Static figures (PNG / SVG / PDF) with matplotlib, from the same scene as the HTML view, for
papers and reports: same colours, same sizes, names on the most supported nodes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from expgraph.errors import UsageError

matplotlib.use("Agg")  # figures are files; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch  # noqa: E402

from expgraph.viz.scene import Scene  # noqa: E402
from expgraph.viz.style import edge_style  # noqa: E402

FORMATS = (".png", ".svg", ".pdf")
MAX_NAMED = 40
MAX_ARROWS = 600  # beyond this, plain lines: arrow patches get slow and unreadable
MAX_EDGE_LABELS = 30  # the heaviest edges keep their labels


def render_figure(scene: Scene, out: Path, dpi: int = 200) -> Path:
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"{out.name}: a figure must end in {', '.join(FORMATS)} (or use .html)")
    nodes, edges = scene.nodes, scene.edges
    xs = [n["x"] for n in nodes] or [0.0, 1.0]
    ys = [n["y"] for n in nodes] or [0.0, 1.0]
    x0, x1, y0, y1 = min(xs) - 150, max(xs) + 150, min(ys) - 60, max(ys) + 60
    width_in = 11.0
    height_in = min(max(width_in * (y1 - y0) / (x1 - x0), 3.0), 16.0)
    # equal units on both axes: widen whichever range is short of the figure's shape
    want_h = (x1 - x0) * height_in / width_in
    if want_h > y1 - y0:
        y0, y1 = y0 - (want_h - (y1 - y0)) / 2, y1 + (want_h - (y1 - y0)) / 2
    else:
        want_w = (y1 - y0) * width_in / height_in
        x0, x1 = x0 - (want_w - (x1 - x0)) / 2, x1 + (want_w - (x1 - x0)) / 2
    fig = plt.figure(figsize=(width_in, height_in))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)  # y grows downwards, as on screen
    ax.axis("off")
    ppu = width_in * 72 / (x1 - x0)  # points per layout unit
    arrows = len(edges) <= MAX_ARROWS
    labelled = {id(e) for e in sorted((e for e in edges if e["label"]),
                                      key=lambda e: (not e["hl"], -e["w"]))[:MAX_EDGE_LABELS
                                                                  if len(edges) < 60 else 12]}
    for e in edges:
        a, b = nodes[e["s"]], nodes[e["t"]]
        _, _, ls = edge_style(e["type"])
        lw = min(0.6 + 0.5 * (e["w"] ** 0.5), 3.5) * (1.6 if e["hl"] else 1.0)
        alpha = 0.9 if e["hl"] else 0.55
        if a is b:
            ax.add_patch(Circle((a["x"], a["y"] - a["r"] * 1.7), a["r"] * 0.9, fill=False,
                                ec=e["c"], lw=lw, alpha=alpha, zorder=2))
        elif arrows:
            ax.add_patch(FancyArrowPatch(
                (a["x"], a["y"]), (b["x"], b["y"]), arrowstyle="-|>", mutation_scale=8,
                color=e["c"], lw=lw, ls=ls, alpha=alpha, connectionstyle="arc3,rad=0.08",
                shrinkA=a["r"] * ppu, shrinkB=b["r"] * ppu + 1, zorder=2))
        else:
            ax.plot([a["x"], b["x"]], [a["y"], b["y"]], color=e["c"], lw=lw * 0.6, ls=ls,
                    alpha=alpha * 0.6, zorder=1)
        if id(e) in labelled:
            mx, my = ((a["x"], a["y"] - a["r"] * 2.8) if a is b
                      else ((a["x"] + b["x"]) / 2, (a["y"] + b["y"]) / 2))
            ax.text(mx, my, e["label"], fontsize=5.5, ha="center", va="center", color="#333",
                    zorder=4, bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                    "alpha": 0.8})
    if nodes:
        ax.scatter(xs, ys, s=[(n["r"] * ppu * 2) ** 2 for n in nodes],
                   c=[n["c"] for n in nodes], edgecolors=["#111" if n["hl"] else "white"
                                                          for n in nodes],
                   linewidths=[1.6 if n["hl"] else 0.8 for n in nodes], zorder=3)
    named = sorted(range(len(nodes)), key=lambda i: (not nodes[i]["hl"], -nodes[i]["w"]))
    for i in named[:MAX_NAMED]:
        n = nodes[i]
        ax.annotate(n["name"][:34], (n["x"], n["y"]), textcoords="offset points",
                    xytext=(0, -n["r"] * ppu - 2), ha="center", va="top", fontsize=6.5,
                    zorder=5, bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                                    "alpha": 0.7})
    ax.legend(handles=_legend(scene), loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7,
              frameon=False)
    fig.text(0.0, 1.01, scene.title, fontsize=11, va="bottom")
    sub = f"{scene.drawn_nodes} nodes drawn" + (f" · {scene.note}" if scene.note else "")
    fig.text(0.0, -0.01, sub, fontsize=7, color="#555", va="top")
    fig.savefig(out, dpi=dpi, bbox_inches="tight", metadata=_meta(out))
    plt.close(fig)
    return out


def _legend(scene: Scene) -> list[Line2D]:
    seen: dict[str, str] = {}
    for n in scene.nodes:
        key = n["tier"] + " skill" if n["label"] == "Skill" and n["tier"] else n["label"]
        seen.setdefault(key, n["c"])
    handles = [Line2D([], [], marker="o", ls="", color=c, markersize=6, label=k)
               for k, c in seen.items()]
    types = dict.fromkeys(e["type"] for e in scene.edges)
    for t in types:
        colour, _, ls = edge_style(t)
        handles.append(Line2D([], [], color=colour, ls=ls, lw=1.2, label=t))
    if any(e["rate"] is not None for e in scene.edges):
        handles.append(Line2D([], [], color="#D55E00", lw=1.5, label="0% success"))
        handles.append(Line2D([], [], color="#009E73", lw=1.5, label="100% success"))
    return handles


def _meta(out: Path) -> dict[str, str | None]:
    # fixed metadata so the same graph gives the same SVG/PDF bytes (no creation date)
    suffix = out.suffix.lower()
    if suffix == ".svg":
        return {"Date": None}
    if suffix == ".pdf":
        return {"CreationDate": None}
    return {}
