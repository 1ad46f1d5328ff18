"""Distillation: episodes -> abstract states, three skill tiers, failures and guardrails.

Deterministic mining over the whole corpus; an LLM only renames and explains. The online path
(`episode_ids=...`, after each ingest) re-mines from every episode and writes the diff, the
offline path (`rebuild=True`) drops the derived layer, replays the states and mines again: both
end in the same graph for the same episodes. A rebuild keeps execution feedback and each served
node's history (`evidence.snapshot` before, `evidence.restore` after).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from expgraph.distill.corpus import CONSTANTS_META, load_corpus
from expgraph.distill.enrich import enrich
from expgraph.distill.evidence import restore, snapshot
from expgraph.distill.failures import failures, guardrails, pitfalls
from expgraph.distill.plans import plans
from expgraph.distill.rebuild import drop_derived, replay_states
from expgraph.distill.skills import atomic_skills, functional_skills
from expgraph.distill.writer import write_layer
from expgraph.embedder import CachedEmbedder
from expgraph.models import Label, utcnow
from expgraph.store.base import GraphStore

__all__ = ["DistillReport", "distill"]


@dataclass
class DistillReport:
    mode: str = "online"  # online | rebuild
    episodes: int = 0
    new_episodes: int = 0
    states: int = 0
    task_clusters: int = 0
    skills: dict[str, int] = field(default_factory=dict)  # tier -> count
    failures: dict[str, int] = field(default_factory=dict)  # error class -> count
    guardrails: int = 0
    llm_enriched: int = 0
    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    embedded: int = 0
    restored: int = 0  # rebuild: served nodes that got their feedback and history back
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def table_rows(self) -> list[tuple[str, str, int | float]]:
        """(kind, label, count) rows for a printed table."""
        rows: list[tuple[str, str, int | float]] = [("Episode", "", self.episodes),
                                                    ("State", "", self.states),
                                                    ("Task", "clusters", self.task_clusters)]
        rows += [("Skill", t, self.skills.get(t, 0)) for t in ("strategic", "functional",
                                                               "atomic")]
        rows += [("Failure", c, n) for c, n in sorted(self.failures.items())]
        rows += [("Guardrail", "", self.guardrails), ("(written)", "nodes", self.written),
                 ("(deleted)", "nodes", self.deleted), ("(time)", "seconds",
                                                        round(self.seconds, 3))]
        return rows

    def model_dump(self) -> dict[str, Any]:
        return asdict(self)


def distill(store: GraphStore, embedder: CachedEmbedder, llm: Any = None,
            episode_ids: Sequence[str] | None = None, rebuild: bool = False) -> DistillReport:
    """Bring the distilled layer up to date with every episode in the store."""
    t0 = time.perf_counter()
    report = DistillReport(mode="rebuild" if rebuild else "online",
                           new_episodes=len(episode_ids or ()))
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks[name] = round(time.perf_counter() - t0 - sum(marks.values()), 4)

    snap = snapshot(store) if rebuild else None
    if rebuild:
        drop_derived(store)
        report.states = replay_states(store, embedder)
        mark("replay_states")
    corpus = load_corpus(store)
    store.set_meta(CONSTANTS_META, corpus.constants)
    state_recs = store.find_nodes(Label.STATE)
    state_text = {r.id: r.props.get("signature", r.text) for r in state_recs}
    report.states = len(state_recs)
    mark("load")
    fail_nodes, fail_edges = failures(corpus)
    guard_nodes, guard_edges = guardrails(corpus, fail_nodes, state_text)
    mark("failures")
    atomic, atomic_edges = atomic_skills(corpus, pitfalls(fail_nodes, state_text), state_text)
    functional, func_edges = functional_skills(corpus, state_text)
    mark("skills")
    tasks = store.find_nodes(Label.TASK, with_embedding=True)
    plan_nodes, plan_edges, task_updates = plans(corpus, tasks, functional)
    mark("plans")
    skills = [*plan_nodes, *functional, *atomic]
    report.llm_enriched = enrich(store, llm, skills, guard_nodes)
    mark("enrich")
    stats = write_layer(store, embedder, [*skills, *fail_nodes, *guard_nodes],
                        [*atomic_edges, *func_edges, *plan_edges, *fail_edges, *guard_edges],
                        extra=task_updates)
    mark("write")
    if snap is not None:
        report.restored = restore(store, snap, utcnow().isoformat())
        mark("restore")
    report.episodes = len(corpus.episodes)
    report.task_clusters = len({r.props.get("cluster") for r in _merge(tasks, task_updates)}
                               - {None})
    report.skills = dict(Counter(s.tier.value for s in skills))
    report.failures = dict(Counter(f.error_class for f in fail_nodes))
    report.guardrails = len(guard_nodes)
    report.written, report.unchanged, report.deleted = stats.written, stats.unchanged, \
        stats.deleted
    report.embedded = stats.embedded
    report.seconds = time.perf_counter() - t0
    report.timings = marks
    return report


def _merge(tasks: list, updates: list) -> list:
    new = {r.id: r for r in updates}
    return [new.get(r.id, r) for r in tasks]
