"""The self-contained interactive page: layout and data as inline JSON, an inline script that
only renders SVG, shows hover details and applies the filters. No network access at all."""

from __future__ import annotations

import html
import json
from pathlib import Path

from expgraph.viz._assets import CSS, JS
from expgraph.viz.scene import Scene

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="expgraph.viz">
<title>{title}</title><style>{css}</style></head>
<body data-view="{view}" data-total-nodes="{total}">
<header><h1>{title}</h1><div id="note">{note}</div><div id="counts"></div></header>
<main><aside id="filters"></aside>
<div id="wrap"><svg id="view" role="img" aria-label="{title}"></svg><div id="tip"></div>
</div></main>
<script type="application/json" id="expgraph-data">{data}</script>
<script>{js}</script>
</body></html>
"""


def render_html(scene: Scene) -> str:
    # "</" inside JSON would close the script element; "<\\/" is the same string to JSON.
    data = json.dumps(scene.data(), ensure_ascii=False, separators=(",", ":"), default=str)
    data = data.replace("</", "<\\/").replace("<!--", "<\\!--")
    return PAGE.format(title=html.escape(scene.title), note=html.escape(scene.note),
                       view=html.escape(scene.view), total=scene.total_nodes, css=CSS,
                       data=data, js=JS)


def write_html(scene: Scene, out: Path) -> Path:
    out.write_text(render_html(scene), encoding="utf-8")
    return out
