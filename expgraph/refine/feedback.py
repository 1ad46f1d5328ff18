"""Execution feedback: an agent was served a skill or guardrail, then its episode succeeded or
failed. Each (item, episode) pair counts once: the RETRIEVED_FOR edge is the dedup key, so
re-recording an episode is a no-op and recording the opposite outcome corrects the count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from expgraph.audit import SERVED_LABELS, add_history, rescore_props
from expgraph.errors import UsageError
from expgraph.models import EdgeRecord, Label, Rel, episode_node_id, utcnow
from expgraph.refine.common import merge_target
from expgraph.store.base import GraphStore


def _episode_node(store: GraphStore, episode_id: str) -> str:
    """Accept an Episode node id or the episode's own id (as in the source file)."""
    rec = store.get_node(episode_id)
    if rec is not None and rec.label == Label.EPISODE:
        return episode_id
    return episode_node_id(episode_id)


def feedback(store: GraphStore, item_id: str, success: bool,
             episode_id: str | None = None) -> dict[str, Any]:
    """Record that serving `item_id` preceded a success or a failure; update its utility.

    Feedback on a merged item is credited to the item it was merged into (its evidence lives
    there). Without an episode id every call counts and is logged in the item's history."""
    rec = store.get_node(item_id)
    if rec is None or rec.label not in SERVED_LABELS:
        raise UsageError(f"no skill or guardrail with id {item_id!r}; "
                         "`expgraph query` lists ids, `expgraph show ID` inspects one")
    target_id = merge_target(store, item_id)
    target = rec if target_id == item_id else store.get_node(target_id)
    if target is None:  # pragma: no cover - a dangling MERGED_INTO edge
        target, target_id = rec, item_id
    props = dict(target.props)
    before = float(props.get("utility") or 0.0)
    now = utcnow().isoformat()
    out: dict[str, Any] = {"item": item_id, "credited": target_id, "success": bool(success),
                           "episode": None, "counted": True, "utility_before": before}
    edges: list[EdgeRecord] = []
    key_s, key_f = "feedback_successes", "feedback_failures"
    if episode_id is not None:
        ep = _episode_node(store, episode_id)
        out["episode"] = ep
        prior = [e for e in store.edges(Rel.RETRIEVED_FOR, src=target_id, dst=ep)
                 if not e.props.get("via_merge")]
        if prior and bool(prior[0].props.get("helped")) == bool(success):
            out.update(counted=False, reason="already recorded for this episode",
                       utility_after=before)
            return out
        if prior:  # the opposite outcome was recorded before: move the count
            old = key_s if prior[0].props.get("helped") else key_f
            props[old] = max(int(props.get(old) or 0) - 1, 0)
            add_history(props, "feedback corrected", {"episode": ep, "success": bool(success)},
                        now)
            out["corrected"] = True
        edges.append(EdgeRecord(src=target_id, dst=ep, type=Rel.RETRIEVED_FOR,
                                props={"helped": bool(success), "served": item_id, "at": now},
                                namespace=store.namespace))
    else:
        add_history(props, "feedback", {"success": bool(success), "served": item_id}, now)
    k = key_s if success else key_f
    props[k] = int(props.get(k) or 0) + 1
    rescore_props(props, target.label)
    props["updated_at"] = now
    target.props = props
    target.embedding = None
    with store.transaction():
        store.upsert_nodes([target])
        if edges:
            store.upsert_edges(edges)
    out.update(utility_after=props["utility"], feedback_successes=props.get(key_s, 0),
               feedback_failures=props.get(key_f, 0))
    return out


def retrieved_ids(metadata: dict[str, Any] | None) -> list[str]:
    """The item ids an episode says it was served (`metadata["retrieved"]`: ids or {id: ...})."""
    raw = (metadata or {}).get("retrieved") or []
    if isinstance(raw, (str, dict)):
        raw = [raw]
    ids = []
    for x in raw:
        i = x.get("id") if isinstance(x, dict) else x
        if isinstance(i, str) and i and i not in ids:
            ids.append(i)
    return ids


def record_retrieved(store: GraphStore, episode_ids: Sequence[str]) -> dict[str, Any]:
    """After ingest: each new episode's outcome becomes feedback for every item it was served.
    Episodes with an unknown outcome, and ids the store does not hold, are skipped."""
    summary: dict[str, Any] = {"episodes": 0, "recorded": 0, "duplicates": 0, "unknown": []}
    for ep in store.get_nodes(list(episode_ids)):
        if ep.label != Label.EPISODE:
            continue
        ids = retrieved_ids(ep.props.get("metadata"))
        success = ep.props.get("success")
        if not ids or success is None:
            continue
        summary["episodes"] += 1
        known = store.has_nodes(ids)
        for item in ids:
            if item not in known:
                summary["unknown"].append(item)
                continue
            try:
                res = feedback(store, item, bool(success), episode_id=ep.id)
            except ValueError:  # an id of another label (a State, say): not a served item
                summary["unknown"].append(item)
                continue
            summary["recorded" if res["counted"] else "duplicates"] += 1
    return summary
