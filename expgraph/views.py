"""Plain-dict views of stored nodes, the same for every interface that lists them (the CLI's
`skills`, the MCP server's `expgraph://skills/{tier}` resources)."""

from __future__ import annotations

from expgraph.models import NodeRecord, Tier

TIERS = [t.value for t in Tier]
SKILL_FIELDS = ("tier", "name", "description", "actions", "parameters", "support", "successes",
                "failures", "utility", "status", "source", "scope")


def skill_rows(recs: list[NodeRecord], limit: int) -> list[dict]:
    """Skills by tier (strategic first), then utility and support, highest first: the first
    `limit`, each as its id and `SKILL_FIELDS`."""
    recs = sorted(recs, key=lambda r: (TIERS.index(r.props.get("tier", "atomic")),
                                       -r.props.get("utility", 0.0), -r.props.get("support", 0),
                                       r.id))
    return [{"id": r.id, **{k: r.props.get(k) for k in SKILL_FIELDS}} for r in recs[:limit]]
