"""One palette for both renderers (HTML and matplotlib), so a figure in a paper and the
interactive page read the same: colour = label (skills by tier), size = support, dash = type."""

from __future__ import annotations

import math

# Colour-blind-safe-ish (Okabe-Ito based) colours per label; skills get one per tier.
NODE_COLOURS: dict[str, str] = {
    "strategic": "#0072B2",
    "functional": "#56B4E9",
    "atomic": "#009E73",
    "Skill": "#009E73",
    "Guardrail": "#E69F00",
    "Failure": "#D55E00",
    "State": "#8E8E8E",
    "Task": "#CC79A7",
    "Action": "#6A3D9A",
    "Episode": "#B8A800",
    "Query": "#111111",
    "Group": "#C8C8C8",
}

# type -> (colour, dash pattern for SVG "" = solid, matplotlib linestyle)
EDGE_STYLES: dict[str, tuple[str, str, str]] = {
    "COMPOSED_OF": ("#4a6fa5", "", "solid"),
    "PLANS_FOR": ("#CC79A7", "6 3", "dashed"),
    "USES": ("#6A3D9A", "2 3", "dotted"),
    "APPLIES_IN": ("#009E73", "6 3", "dashed"),
    "LEADS_TO": ("#56B4E9", "6 3", "dashed"),
    "TRANSITION": ("#777777", "", "solid"),
    "GUARDS": ("#E69F00", "", "solid"),
    "PREVENTS": ("#E69F00", "6 3", "dashed"),
    "OBSERVED_IN": ("#D55E00", "2 3", "dotted"),
    "CAUSED_BY": ("#D55E00", "6 3", "dashed"),
    "PATH": ("#111111", "", "solid"),
    "NEAREST": ("#111111", "2 3", "dotted"),
    "AGGREGATE": ("#BBBBBB", "2 3", "dotted"),
}
DEFAULT_EDGE = ("#999999", "", "solid")


def node_colour(label: str, tier: str | None = None) -> str:
    if label == "Skill" and tier:
        return NODE_COLOURS.get(tier, NODE_COLOURS["Skill"])
    return NODE_COLOURS.get(label, "#999999")


def edge_style(rel: str) -> tuple[str, str, str]:
    return EDGE_STYLES.get(rel, DEFAULT_EDGE)


def rate_colour(rate: float | None) -> str:
    """Red (0) through amber to green (1) for success rates; grey when unknown."""
    if rate is None:
        return "#999999"
    r = min(max(rate, 0.0), 1.0)
    if r < 0.5:
        a, b, t = (0xD5, 0x5E, 0x00), (0xE6, 0x9F, 0x00), r / 0.5
    else:
        a, b, t = (0xE6, 0x9F, 0x00), (0x00, 0x9E, 0x73), (r - 0.5) / 0.5
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def node_radius(weight: float, max_weight: float) -> float:
    """Radius in layout units (px in the HTML) from support: sqrt so area tracks support."""
    if max_weight <= 0:
        return 7.0
    return 5.0 + 13.0 * math.sqrt(max(weight, 0.0) / max_weight)
