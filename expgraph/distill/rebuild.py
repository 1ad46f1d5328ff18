"""Offline rebuild: drop the derived layer and replay the raw steps into fresh abstract states,
through the same `replay_episode` as ingest (episodes in `seq` order, one `StateIndex` shared by
all), so a store rebuilt offline holds the same states as one grown online.
"""

from __future__ import annotations

from collections import Counter

from expgraph.distill.replay import replay_episode, signatures, with_sample
from expgraph.distill.states import StateIndex
from expgraph.embedder import CachedEmbedder
from expgraph.memory.records import STEPS_REWRITTEN_META, step_id, step_records, step_texts
from expgraph.models import EdgeRecord, Label, NodeRecord, Rel, utcnow
from expgraph.store.base import GraphStore

TRANSITION_COUNTS = ("count", "successes", "errors")


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


def replay_states(store: GraphStore, embedder: CachedEmbedder) -> int:
    """Re-resolve every episode's observations into states; rewrite the episodes' step state
    ids, the State nodes, VISITS and TRANSITION edges. Returns the number of states."""
    ns = store.namespace
    episodes = sorted(store.find_nodes(Label.EPISODE), key=lambda r: (r.props.get("seq", 0), r.id))
    per_ep = [signatures(r.props.get("steps", [])) for r in episodes]
    distinct = list(dict.fromkeys(s for sigs, _ in per_ep for s in sigs))
    vecs = dict(zip(distinct, embedder.embed(distinct), strict=True))
    index = StateIndex(dim=embedder.dim)
    now = utcnow().isoformat()
    states: dict[str, NodeRecord] = {}
    members: Counter[str] = Counter()
    visits: list[EdgeRecord] = []
    transitions: list[EdgeRecord] = []
    for rec, (sigs, raws) in zip(episodes, per_ep, strict=True):
        replay = replay_episode(rec.id, rec.props.get("steps", []), sigs, raws,
                                bool(rec.props.get("success")), vecs, index, ns, now)
        for sid, node in replay.new_states.items():
            states[sid] = node.to_record(ns)
            states[sid].embedding = vecs[node.signature].tolist()
            states[sid].props["episodes"] = []
        for sid in dict.fromkeys(replay.state_ids):
            states[sid].props["episodes"] = with_sample(states[sid].props["episodes"], rec.id)
        members.update(replay.state_ids)
        visits += replay.visits + replay.step_states
        transitions += replay.transitions
    for sid, rec in states.items():
        rec.props["member_count"] = members[sid]
    steps, step_edges = _step_layer(store, embedder, episodes, now)
    for rec in episodes:
        rec.embedding = None  # keep the stored one
    with store.transaction():
        store.upsert_nodes(list(states.values()))
        store.upsert_nodes(episodes)
        store.upsert_nodes(steps)
        store.set_meta(STEPS_REWRITTEN_META, int(store.get_meta(STEPS_REWRITTEN_META, 0)) + 1)
        store.upsert_edges(visits)
        store.upsert_edges(step_edges)
        # The old TRANSITION edges are gone (drop_derived): accumulating from zero sums the
        # per-step records into one edge per (state, next state, action).
        store.upsert_edges(transitions, accumulate=TRANSITION_COUNTS)
    return len(states)


def _step_layer(store: GraphStore, embedder: CachedEmbedder, episodes: list[NodeRecord],
                now: str) -> tuple[list[NodeRecord], list[EdgeRecord]]:
    """Step nodes rewritten with their replayed states (stored embeddings kept); episodes
    stored before steps were kept get theirs, embedded now."""
    have = store.has_nodes([step_id(r.id, 0) for r in episodes if r.props.get("steps")])
    missing = [r for r in episodes if r.props.get("steps") and step_id(r.id, 0) not in have]
    texts = list(dict.fromkeys(t for r in missing for t in step_texts(r.props["steps"])))
    vecs = dict(zip(texts, embedder.embed(texts), strict=True)) if texts else {}
    nodes: list[NodeRecord] = []
    edges: list[EdgeRecord] = []
    for r in episodes:
        p = r.props
        n, e = step_records(r.id, p.get("task", ""), p.get("success"), p.get("steps", []),
                            vecs, store.namespace, now)
        nodes += n
        edges += e
    return nodes, edges
