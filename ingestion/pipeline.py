"""The ingest pipeline: episodes in, Episode/Task/State/Action nodes and their edges out.

Episodes are embedded in batches (each distinct text once) and written one transaction per
episode, so a crash or a kill leaves every episode in whole or not at all. An episode already
in the store (same deterministic id) is skipped: re-ingesting is idempotent.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from expgraph.distill.states import StateIndex, canonicalize, representative
from expgraph.embedder import CachedEmbedder
from expgraph.models import (
    ActionNode,
    EdgeRecord,
    Episode,
    EpisodeNode,
    Label,
    NodeRecord,
    Rel,
    StateNode,
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
PROVENANCE_SAMPLE = 20


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
        texts = list(dict.fromkeys([e.task for e in fresh.values()]
                                   + [s for v in sigs.values() for s in v]))
        t0 = time.perf_counter()
        vecs = dict(zip(texts, self.embedder.embed(texts), strict=True))
        report.embed_seconds += time.perf_counter() - t0
        for nid, ep in fresh.items():
            try:
                with self.store.transaction():
                    seq = self._claim_seq(nid)
                    if seq is not None:
                        self._write_episode(ep, sigs[nid], vecs, self.state_index(), seq)
            except BaseException:
                self.reset()  # the caches may name nodes that were rolled back
                raise
            if seq is None:
                report.skipped += 1
                continue
            self._seen = (seq, self.store.generation())
            report.ingested += 1
            report.steps += len(ep.steps)
            report.episode_ids.append(nid)
        if progress:
            progress(len(batch))

    def _claim_seq(self, node_id: str) -> int | None:
        """Inside the episode's write transaction, which serialises writers (other processes
        too): the episode's `seq`, or None when another writer stored it meanwhile. When
        another writer committed since this one did, the state index and props caches are
        reloaded first, so a state it created is resolved to, never duplicated."""
        if self.store.has_nodes([node_id]):
            return None
        seq = int(self.store.get_meta("episode_seq", 0))
        if self._seen is not None and self._seen != (seq, self.store.generation()):
            self.reset()
        self.store.set_meta("episode_seq", seq + 1)
        return seq + 1

    def _write_episode(self, ep: Episode, sigs: list[str], vecs: dict[str, np.ndarray],
                       index: StateIndex, seq: int) -> None:
        ns = self.store.namespace
        success = ep.succeeded
        ok = 1 if success else 0
        now = utcnow().isoformat()
        # States of the observations before each step, plus the state after the last step.
        state_ids: list[str] = []
        new_states: dict[str, StateNode] = {}
        raw_for_sig = [s.observation for s in ep.steps]
        if ep.steps:
            raw_for_sig.append(ep.steps[-1].result or "")
        for sig, raw in zip(sigs, raw_for_sig, strict=False):
            sid, is_new = index.resolve(sig, vecs[sig])
            state_ids.append(sid)
            if is_new:
                new_states[sid] = StateNode(id=sid, signature=sig,
                                            representative=representative(raw))
        task = TaskNode(text=ep.task)
        node = EpisodeNode(
            **_ep_stub(ep), agent=ep.agent, task=ep.task, success=success,
            reward=ep.outcome.reward, n_steps=len(ep.steps), source_format=ep.source_format,
            metadata=ep.metadata, provenance=ep.provenance.model_dump() if ep.provenance else None,
            seq=seq, created_at=now, updated_at=now,
            steps=[_compact_step(s, state_ids, sigs, i) for i, s in enumerate(ep.steps)],
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
            sample = rec.props.get("episodes", [])
            if len(sample) < PROVENANCE_SAMPLE and node.id not in sample:
                rec.props["episodes"] = [*sample, node.id]
            rec.props["member_count"] = n
            state_recs.append(rec)
        action_recs = self._action_records(ep, ns)
        edges = [EdgeRecord(src=node.id, dst=task.id, type=Rel.ATTEMPTS, namespace=ns)]
        for i, sid in enumerate(state_ids):
            edges.append(EdgeRecord.model_construct(src=node.id, dst=sid, type=Rel.VISITS,
                                                    key=str(i), props={"step": i}, namespace=ns))
        transitions: list[EdgeRecord] = []
        for i, step in enumerate(ep.steps):
            if i + 1 >= len(state_ids):
                break
            key = action_key(step.action)
            transitions.append(EdgeRecord.model_construct(
                src=state_ids[i], dst=state_ids[i + 1], type=Rel.TRANSITION, key=key,
                props={"action": key, "name": step.action.name, "count": 1, "successes": ok,
                       "errors": int(step.error)}, namespace=ns))
        performs = Counter(a.id for a in action_recs for _ in range(a.props["uses"]))
        edges += [EdgeRecord(src=node.id, dst=aid, type=Rel.PERFORMS, props={"count": c},
                             namespace=ns) for aid, c in performs.items()]
        for rec in [*state_recs, *action_recs]:
            self._props[rec.id] = {k: v for k, v in rec.props.items()
                                   if k not in ("member_count", "uses")}
        with self.store.transaction():
            self.store.upsert_nodes(nodes)
            self.store.upsert_nodes([task_rec], accumulate=("attempts", "successes"))
            self.store.upsert_nodes(state_recs, accumulate=("member_count",))
            self.store.upsert_nodes(action_recs, accumulate=("uses",))
            self.store.upsert_edges(edges)
            self.store.upsert_edges(transitions, accumulate=("count", "successes", "errors"))

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


def _compact_step(step, state_ids: list[str], sigs: list[str], i: int) -> dict:  # noqa: ANN001
    """The raw step as kept on the Episode node. Signatures are kept too: observations are
    cut to MAX_TEXT, and a rebuild must see the signatures ingest saw."""
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
        "state": state_ids[i] if i < len(state_ids) else None,
        "next_state": state_ids[i + 1] if i + 1 < len(state_ids) else None,
    }


def stderr_progress(total: int | None = None) -> Callable[[int], None] | None:
    """A one-line progress counter on a terminal; nothing when output is piped."""
    if not sys.stderr.isatty():
        return None
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        suffix = f"/{total}" if total else ""
        sys.stderr.write(f"\ringesting: {done}{suffix} episodes")
        sys.stderr.flush()

    return tick


# ---------------------------------------------------------------------- online distillation
DISTILLED_META = "distilled_seq"  # every episode with seq <= this is in the derived layer


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
    cached by the first pass too. The report counts the writes of both passes."""
    from expgraph.distill import distill

    first = distill(store, embedder, llm=llm, episode_ids=episode_ids)
    with store.transaction():
        seq = int(store.get_meta("episode_seq", 0))
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
