"""The ingest pipeline: episodes in, Episode/Task/State/Action nodes and their edges out.

Episodes are embedded in batches (each distinct text once) and each batch is written in one
transaction, so a crash or a kill leaves every episode in whole or not at all (a Bolt store
sends a batch's writes as a few `UNWIND` statements, not a few per episode). An episode already
in the store (same deterministic id) is skipped: re-ingesting is idempotent.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from expgraph.distill.replay import replay_episode, with_sample
from expgraph.distill.states import StateIndex, canonicalize
from expgraph.embedder import CachedEmbedder
from expgraph.memory.index import remember, said_of
from expgraph.memory.records import said_texts, step_records, step_views
from expgraph.models import (
    ActionNode,
    EdgeRecord,
    Episode,
    EpisodeNode,
    Label,
    NodeRecord,
    Rel,
    TaskNode,
    episode_node_id,
    utcnow,
)
from expgraph.store.base import GraphStore
from expgraph.templates import action_key
from ingestion.errors import ParseError

if TYPE_CHECKING:
    from expgraph.distill import DistillReport

MAX_TEXT = 2000  # chars of an observation/result kept in the episode's raw steps


@dataclass
class IngestReport:
    ingested: int = 0
    steps: int = 0
    skipped: int = 0  # already in the store
    rejected: list[ParseError] = field(default_factory=list)
    episode_ids: list[str] = field(default_factory=list)
    embed_seconds: float = 0.0
    total_seconds: float = 0.0

    def summary(self) -> str:
        s = f"ingested {self.ingested} episodes ({self.steps} steps), rejected {len(self.rejected)}"
        return s + (f", already present {self.skipped}" if self.skipped else "")

    def merge(self, other: IngestReport) -> None:
        self.ingested += other.ingested
        self.steps += other.steps
        self.skipped += other.skipped
        self.rejected += other.rejected
        self.episode_ids += other.episode_ids
        self.embed_seconds += other.embed_seconds
        self.total_seconds += other.total_seconds


class StrictModeError(RuntimeError):
    def __init__(self, error: ParseError) -> None:
        super().__init__(str(error))
        self.error = error


def _type_name(v: object) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(v), "null" if v is None else "string")


class Ingestor:
    """Writes episodes into a store. One instance keeps the state index warm across calls."""

    def __init__(self, store: GraphStore, embedder: CachedEmbedder, batch_size: int = 64) -> None:
        self.store = store
        self.embedder = embedder
        self.batch_size = batch_size
        self._states: StateIndex | None = None
        # Props of states and actions already written, so known ones are not read back.
        self._props: dict[str, dict] = {}
        # (seq, generation) right after this ingestor's last commit: anything else means
        # another writer committed since, and the caches above are stale.
        self._seen: tuple[int, int] | None = None

    def state_index(self) -> StateIndex:
        if self._states is None:
            idx = StateIndex(dim=self.embedder.dim)
            for rec in self.store.find_nodes(Label.STATE, with_embedding=True):
                vec = np.asarray(rec.embedding, dtype=np.float32) if rec.embedding else None
                idx.add(rec.id, rec.props.get("signature", rec.text), vec)
            self._states = idx
        return self._states

    def reset(self) -> None:
        self._states = None
        self._props = {}
        self._seen = None

    def _known_props(self, ids: list[str]) -> dict[str, dict]:
        missing = [i for i in ids if i not in self._props]
        if missing:
            for rec in self.store.get_nodes(missing):
                self._props[rec.id] = rec.props
        return {i: self._props[i] for i in ids if i in self._props}

    def ingest(self, items: Iterable[Episode | ParseError], strict: bool = False,
               progress: Callable[[int], None] | None = None) -> IngestReport:
        report = IngestReport()
        t0 = time.perf_counter()
        batch: list[Episode] = []
        for item in items:
            if isinstance(item, ParseError):
                if strict:
                    raise StrictModeError(item)
                report.rejected.append(item)
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                self._ingest_batch(batch, report, progress)
                batch = []
        if batch:
            self._ingest_batch(batch, report, progress)
        report.total_seconds = time.perf_counter() - t0
        return report

    # ------------------------------------------------------------------ internals
    def _ingest_batch(self, batch: list[Episode], report: IngestReport,
                      progress: Callable[[int], None] | None) -> None:
        node_ids = [episode_node_id(e.id or "") for e in batch]
        present = self.store.has_nodes(node_ids)
        fresh: dict[str, Episode] = {}  # node id -> episode, in order
        for nid, ep in zip(node_ids, batch, strict=True):
            if nid in present or nid in fresh:
                report.skipped += 1
                continue
            fresh[nid] = ep
        if not fresh:
            if progress:
                progress(len(batch))
            return
        # Embed every distinct task text and observation signature of the batch at once.
        sigs = {nid: _signatures(ep) for nid, ep in fresh.items()}
        views = [t for e in fresh.values() for s in e.steps for t in step_views(s.observation)]
        said = [t for e in fresh.values() for t in said_texts(
            [{"raw": s.action.raw, "key": action_key(s.action)} for s in e.steps]) if t]
        texts = list(dict.fromkeys([e.task for e in fresh.values()]
                                   + [s for v in sigs.values() for s in v] + views + said))
        t0 = time.perf_counter()
        vecs = dict(zip(texts, self.embedder.embed(texts), strict=True))
        report.embed_seconds += time.perf_counter() - t0
        done: list[tuple[str, Episode]] = []
        try:
            # The whole batch lands, or none of it; `seq` is claimed inside the transaction,
            # which serialises writers (other processes too), and an episode another writer
            # stored meanwhile is skipped. When another writer committed since this one did,
            # the state index and props caches are reloaded first, so a state it created is
            # resolved to, never duplicated.
            with self.store.transaction():
                present = self.store.has_nodes(list(fresh))
                seq = int(self.store.get_meta("episode_seq", 0))
                if self._seen is not None and self._seen != (seq, self.store.generation()):
                    self.reset()
                index = self.state_index()
                writes, steps = [], []
                for ep_nid, ep in fresh.items():
                    if ep_nid in present:
                        report.skipped += 1
                        continue
                    seq = self._claim_seq(seq)
                    upserts, step_nodes = self._episode_writes(ep, sigs[ep_nid], vecs, index, seq)
                    writes += upserts
                    steps += step_nodes
                    done.append((ep_nid, ep))
                for upsert, records, accumulate in writes:
                    upsert(records, accumulate=accumulate)
                self.store.set_meta("episode_seq", seq)
        except BaseException:
            self.reset()  # the caches may name nodes that were rolled back
            raise
        self._seen = (seq, self.store.generation())
        remember(self.store, steps, [vecs[r.props["window"]] for r in steps],
                 [vecs.get(t) if t else None for t in said_of(steps)])
        for nid, ep in done:
            report.ingested += 1
            report.steps += len(ep.steps)
            report.episode_ids.append(nid)
        if progress:
            progress(len(batch))

    def _claim_seq(self, last: int) -> int:
        """The next episode's `seq` (called inside the batch's write transaction)."""
        return last + 1

    def _episode_writes(self, ep: Episode, sigs: list[str], vecs: dict[str, np.ndarray],
                        index: StateIndex, seq: int,
                        ) -> tuple[list[tuple[Callable, list, tuple]], list[NodeRecord]]:
        """The episode's upserts, as (store method, records, accumulated props) in order, and
        its Step nodes (for the step memory once they are committed)."""
        ns = self.store.namespace
        success = ep.succeeded
        ok = 1 if success else 0
        now = utcnow().isoformat()
        nid = episode_node_id(ep.id or "")
        steps = [_compact_step(s, sigs, i) for i, s in enumerate(ep.steps)]
        raws = [s.observation for s in ep.steps]
        if ep.steps:
            raws.append(ep.steps[-1].result or "")
        replay = replay_episode(nid, steps, sigs, raws, success, vecs, index, ns, now)
        state_ids, new_states = replay.state_ids, replay.new_states
        task = TaskNode(text=ep.task)
        node = EpisodeNode(
            **_ep_stub(ep), agent=ep.agent, task=ep.task, success=success,
            reward=ep.outcome.reward, n_steps=len(ep.steps), source_format=ep.source_format,
            metadata=ep.metadata, provenance=ep.provenance.model_dump() if ep.provenance else None,
            seq=seq, created_at=now, updated_at=now,
            steps=steps,
        )
        nodes: list[NodeRecord] = [node.to_record(ns)]
        task_rec = task.to_record(ns)
        task_rec.embedding = vecs[ep.task].tolist()
        task_rec.props.update(attempts=1, successes=ok)
        # States: new ones whole; known ones only count one more member.
        member = Counter(state_ids)
        state_recs: list[NodeRecord] = []
        known = self._known_props([s for s in member if s not in new_states])
        for sid, n in member.items():
            if sid in new_states:
                rec = new_states[sid].to_record(ns)
                rec.embedding = vecs[new_states[sid].signature].tolist()
            elif sid in known:
                props = known[sid]
                rec = NodeRecord(id=sid, label=Label.STATE, text=props.get("signature", ""),
                                 props={**props, "updated_at": now}, namespace=ns)
            else:  # merged into a state created earlier in this process but not found
                continue
            rec.props["episodes"] = with_sample(rec.props.get("episodes", []), node.id)
            rec.props["member_count"] = n
            state_recs.append(rec)
        action_recs = self._action_records(ep, ns)
        step_nodes, step_edges = step_records(node.id, ep.task, success, steps, vecs, ns, now,
                                              views=[step_views(s.observation) for s in ep.steps])
        edges = [EdgeRecord(src=node.id, dst=task.id, type=Rel.ATTEMPTS, namespace=ns),
                 *replay.visits, *step_edges, *replay.step_states]
        transitions = replay.transitions
        performs = Counter(a.id for a in action_recs for _ in range(a.props["uses"]))
        edges += [EdgeRecord(src=node.id, dst=aid, type=Rel.PERFORMS, props={"count": c},
                             namespace=ns) for aid, c in performs.items()]
        for rec in [*state_recs, *action_recs]:
            self._props[rec.id] = {k: v for k, v in rec.props.items()
                                   if k not in ("member_count", "uses")}
        nodes_, edges_ = self.store.upsert_nodes, self.store.upsert_edges
        return [(nodes_, nodes, ()),
                (nodes_, [task_rec], ("attempts", "successes")),
                (nodes_, state_recs, ("member_count",)),
                (nodes_, action_recs, ("uses",)),
                (nodes_, step_nodes, ()),
                (edges_, edges, ()),
                (edges_, transitions, ("count", "successes", "errors"))], step_nodes

    def _action_records(self, ep: Episode, ns: str) -> list[NodeRecord]:
        by_name: dict[str, ActionNode] = {}
        for step in ep.steps:
            a = by_name.setdefault(step.action.name, ActionNode(name=step.action.name))
            a.uses += 1
            for k, v in step.action.arguments.items():
                a.argument_schema.setdefault(k, _type_name(v))
        if not by_name:
            return []
        known = self._known_props([a.id for a in by_name.values()])
        recs = []
        for a in by_name.values():
            old = known.get(a.id)
            if old is not None:
                a.argument_schema = {**old.get("argument_schema", {}), **a.argument_schema}
                a.created_at = old.get("created_at", a.created_at)
            recs.append(a.to_record(ns))
        return recs


def _ep_stub(ep: Episode) -> dict[str, str]:
    return {"episode_id": ep.id or ""}


def _signatures(ep: Episode) -> list[str]:
    """Signatures of each step's observation, then of the last result when there is one."""
    sigs = [canonicalize(s.observation) for s in ep.steps]
    if ep.steps and ep.steps[-1].result is not None:
        sigs.append(canonicalize(ep.steps[-1].result))
    return sigs


def _compact_step(step, sigs: list[str], i: int) -> dict:  # noqa: ANN001
    """The raw step as kept on the Episode node (replay fills `state` / `next_state`).
    Signatures are kept too: observations are cut to MAX_TEXT, and a rebuild must see the
    signatures ingest saw."""
    return {
        "signature": sigs[i] if i < len(sigs) else None,
        "next_signature": sigs[i + 1] if i + 1 < len(sigs) else None,
        "observation": (step.observation or "")[:MAX_TEXT],
        "action": step.action.name,
        "arguments": step.action.arguments,
        "raw": step.action.raw,
        "key": action_key(step.action),
        "result": (step.result or "")[:MAX_TEXT] if step.result is not None else None,
        "reward": step.reward,
        "error": step.error,
        "thought": step.thought,
    }


# ---------------------------------------------------------------------- online distillation
DISTILLED_META = "distilled_seq"  # every episode with seq <= this is in the derived layer
# a store's generation is (other connections' commits) * this + (its own writes): both stores
GENERATION_SCALE = 1_000_003


def undistilled(store: GraphStore) -> int:
    """How many episodes the derived layer does not cover yet: an interrupted or disabled
    online distillation, repaired by the next `distill_online`."""
    return max(0, int(store.get_meta("episode_seq", 0))
               - int(store.get_meta(DISTILLED_META, 0)))


def distill_online(store: GraphStore, embedder: CachedEmbedder, llm: object = None,
                   episode_ids: list[str] | None = None) -> DistillReport:
    """Online distillation whose result is one write transaction with the `distilled_seq`
    marker: a kill rolls it back and the marker still says what is left; two writers'
    distillations (other processes too) run one after the other, each mining every episode
    committed before it, so the last one leaves the layer one process would have.

    A first pass runs outside that transaction: it does the slow part (embedding new skill and
    guardrail texts) without holding the store's write lock; the second pass re-mines inside
    the transaction and finds those texts embedded (and most nodes unchanged); LLM texts are
    cached by the first pass too. The report counts the writes of both passes. When nobody
    wrote during the first pass or since, the second is skipped: it would find the first
    pass's own layer and write nothing."""
    from expgraph.distill import distill

    before = (int(store.get_meta("episode_seq", 0)), store.generation() // GENERATION_SCALE)
    first = distill(store, embedder, llm=llm, episode_ids=episode_ids)
    after_first = store.generation()
    with store.transaction():
        seq = int(store.get_meta("episode_seq", 0))
        if (seq, after_first // GENERATION_SCALE) == before and store.generation() == after_first:
            # no other writer committed during the first pass or since (no new episode, no
            # other connection; nothing in this process since): its layer is what re-mining
            # would find (the same episodes give the same nodes, which it wrote), so the
            # second pass, half of an ingest's cost at 100,000 steps, would write nothing
            store.set_meta(DISTILLED_META, seq)
            return first
        report = distill(store, embedder, llm=llm, episode_ids=episode_ids)
        store.set_meta(DISTILLED_META, seq)
    report.written += first.written
    report.deleted += first.deleted
    report.embedded += first.embedded
    report.unchanged -= min(report.unchanged, first.written)
    report.seconds += first.seconds
    return report


def mark_distilled(store: GraphStore) -> None:
    """After a full offline rebuild: every episode in the store is distilled."""
    store.set_meta(DISTILLED_META, int(store.get_meta("episode_seq", 0)))
