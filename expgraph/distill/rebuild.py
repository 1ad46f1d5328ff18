"""Offline rebuild: drop the derived layer and replay the raw steps into fresh abstract states.

The replay mirrors `ingestion/pipeline.py` exactly (episodes in `seq` order, the observations of
each step then the last result, one `StateIndex` shared by all), so a store rebuilt offline
holds the same states as one grown online.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from expgraph.distill.states import StateIndex, canonicalize, representative
from expgraph.embedder import CachedEmbedder
from expgraph.models import EdgeRecord, Label, NodeRecord, Rel, StateNode, utcnow
from expgraph.store.base import GraphStore

PROVENANCE_SAMPLE = 20  # as ingest keeps on each state


def drop_derived(store: GraphStore) -> None:
    """Remove states, distilled skills (imported ones stay), failures, guardrails and their
    edges; episodes, tasks and actions are the raw layer and stay."""
    ids = [r.id for r in store.find_nodes(Label.SKILL) if r.props.get("source") != "imported"]
    for label in (Label.FAILURE, Label.GUARDRAIL, Label.STATE):
        ids += [r.id for r in store.find_nodes(label)]
    with store.transaction():
        store.delete_nodes(ids)
        store.delete_edges(Rel.VISITS)
        store.delete_edges(Rel.TRANSITION)


def _signatures(steps: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(signatures, raw texts) exactly as ingest takes them."""
    raws = [s.get("observation") or "" for s in steps]
    sigs = [s.get("signature") or canonicalize(r) for s, r in zip(steps, raws, strict=True)]
    if steps and steps[-1].get("result") is not None:
        raws.append(steps[-1]["result"])
        sigs.append(steps[-1].get("next_signature") or canonicalize(steps[-1]["result"]))
    return sigs, raws


def replay_states(store: GraphStore, embedder: CachedEmbedder) -> int:
    """Re-resolve every episode's observations into states; rewrite the episodes' step state
    ids, the State nodes, VISITS and TRANSITION edges. Returns the number of states."""
    ns = store.namespace
    episodes = sorted(store.find_nodes(Label.EPISODE), key=lambda r: (r.props.get("seq", 0), r.id))
    per_ep = [_signatures(r.props.get("steps", [])) for r in episodes]
    distinct = list(dict.fromkeys(s for sigs, _ in per_ep for s in sigs))
    vecs = dict(zip(distinct, embedder.embed(distinct), strict=True))
    index = StateIndex(dim=embedder.dim)
    now = utcnow().isoformat()
    states: dict[str, NodeRecord] = {}
    members: Counter[str] = Counter()
    samples: dict[str, list[str]] = defaultdict(list)
    visits: list[EdgeRecord] = []
    transitions: dict[tuple[str, str, str], dict[str, Any]] = {}
    for rec, (sigs, raws) in zip(episodes, per_ep, strict=True):
        state_ids: list[str] = []
        for sig, raw in zip(sigs, raws, strict=False):
            sid, is_new = index.resolve(sig, vecs[sig])
            state_ids.append(sid)
            if is_new:
                node = StateNode(id=sid, signature=sig, representative=representative(raw),
                                 created_at=now, updated_at=now)
                states[sid] = node.to_record(ns)
                states[sid].embedding = vecs[sig].tolist()
        for sid in dict.fromkeys(state_ids):
            if len(samples[sid]) < PROVENANCE_SAMPLE:
                samples[sid].append(rec.id)
        members.update(state_ids)
        ok = 1 if rec.props.get("success") else 0
        steps = rec.props.get("steps", [])
        for i, sid in enumerate(state_ids):
            visits.append(EdgeRecord(src=rec.id, dst=sid, type=Rel.VISITS, key=str(i),
                                     props={"step": i}, namespace=ns))
        for i, step in enumerate(steps):
            step["state"] = state_ids[i] if i < len(state_ids) else None
            step["next_state"] = state_ids[i + 1] if i + 1 < len(state_ids) else None
            if i + 1 >= len(state_ids):
                continue
            key = step.get("key") or step.get("action", "")
            t = transitions.setdefault((state_ids[i], state_ids[i + 1], key), {
                "action": key, "name": step.get("action", ""), "count": 0, "successes": 0,
                "errors": 0})
            t["count"] += 1
            t["successes"] += ok
            t["errors"] += int(bool(step.get("error")))
    for sid, rec in states.items():
        rec.props["member_count"] = members[sid]
        rec.props["episodes"] = samples[sid]
    edges = [EdgeRecord(src=s, dst=d, type=Rel.TRANSITION, key=k, props=p, namespace=ns)
             for (s, d, k), p in transitions.items()]
    for rec in episodes:
        rec.embedding = None  # keep the stored one
    with store.transaction():
        store.upsert_nodes(list(states.values()))
        store.upsert_nodes(episodes)
        store.upsert_edges(visits)
        store.upsert_edges(edges)
    return len(states)
