"""The audit trail and utility of served nodes (skills, guardrails): shared by distillation,
which carries them across a rebuild, and refinement, which writes them."""

from __future__ import annotations

from typing import Any

from expgraph.models import Label, NodeRecord, utcnow
from expgraph.scoring import item_utility

HISTORY_CAP = 100  # newest entries kept on a node; older ones are dropped
SERVED_LABELS = (Label.SKILL, Label.GUARDRAIL)


def add_history(props: dict[str, Any], event: str, detail: Any = None,
                at: str | None = None) -> None:
    """Append {at, event, detail} to a node's small audit log (capped)."""
    log = list(props.get("history") or [])
    log.append({"at": at or utcnow().isoformat(), "event": event, "detail": detail})
    props["history"] = log[-HISTORY_CAP:]


def touch(rec: NodeRecord, now: str) -> NodeRecord:
    """The record ready to write: updated_at bumped, embedding left as stored."""
    rec.props["updated_at"] = now
    rec.embedding = None
    return rec


def rescore_props(props: dict[str, Any], label: Label) -> float:
    props["utility"] = item_utility(props, label.value)
    return props["utility"]
