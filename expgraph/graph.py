"""`ExperienceGraph`: the one object users hold. It composes the store, the embedder, the
ingest pipeline, distillation, refinement and retrieval; it holds no logic of its own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from expgraph.embedder import CachedEmbedder, Embedder, LangChainEmbedder, default_embedder
from expgraph.models import Episode, Label, NodeRecord, Rel
from expgraph.store import GraphStore, open_store, to_networkx

if TYPE_CHECKING:
    from ingestion.pipeline import IngestReport
    from ingestion.record import EpisodeRecorder
    from queries.schema import SuggestResult


class ExperienceGraph:
    """An experience knowledge base over one store (SQLite file or Neo4j/Bolt URI).

    >>> g = ExperienceGraph("expgraph.db")
    >>> g.ingest("runs.jsonl")
    >>> g.query("You are on the results page", task="buy a red mug")
    """

    def __init__(self, db: str | Path | None = None, namespace: str = "default",
                 embedder: Embedder | Any | None = None, llm: Any = None,
                 store: GraphStore | None = None, auto_distill: bool = True) -> None:
        self.store: GraphStore = store or open_store(str(db) if db else None, namespace=namespace)
        if embedder is not None and not hasattr(embedder, "embed"):
            embedder = LangChainEmbedder(embedder)  # a langchain-core Embeddings
        self._inner_embedder = embedder
        self._embedder: CachedEmbedder | None = None
        self.llm = llm
        self.auto_distill = auto_distill
        self._ingestor = None

    # ------------------------------------------------------------------ plumbing
    @property
    def embedder(self) -> CachedEmbedder:
        """Loaded on first use: commands that never embed never pay for the model."""
        if self._embedder is None:
            self._embedder = CachedEmbedder(self._inner_embedder or default_embedder(), self.store)
        return self._embedder

    @property
    def ingestor(self):  # noqa: ANN201
        from ingestion.pipeline import Ingestor

        if self._ingestor is None:
            self._ingestor = Ingestor(self.store, self.embedder)
        return self._ingestor

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> ExperienceGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ ingest
    def ingest(self, source: str | Path | Episode | Iterable[Episode] | Any,
               format: str = "auto", mapping: str | dict[str, str] | None = None,
               strict: bool = False, progress: Any = None) -> IngestReport:
        """Ingest a file (any supported format), an `Episode`, or an iterable of episodes.
        New episodes are distilled at once (online) unless `auto_distill` is off."""
        from ingestion.detect import open_source

        if isinstance(source, (str, Path)):
            items = open_source(Path(source), format=format, mapping=_mapping(mapping))
        elif isinstance(source, Episode):
            items = [source]
        else:
            items = source
        from ingestion.pipeline import undistilled

        start = self.store.generation()
        report: IngestReport = self.ingestor.ingest(items, strict=strict, progress=progress)
        # Also when nothing was new: a run killed mid-distillation is finished here.
        fed = False
        if report.ingested or (self.auto_distill and undistilled(self.store)):
            fed = self._after_ingest(report.episode_ids)
        if not fed:  # steps and distillation only: the step memory catches up in place
            from expgraph.memory.derived import mark_ingest

            mark_ingest(self.store, start, self.store.generation())
        return report

    def ingest_object(self, obj: Any) -> IngestReport:
        """Ingest a parsed JSON body (canonical episode(s), chat messages, tau-bench list...)."""
        from ingestion.detect import episodes_from_object

        return self.ingest(episodes_from_object(obj))

    def _after_ingest(self, episode_ids: Sequence[str]) -> bool:
        """Feedback and online distillation; True when feedback was written."""
        from expgraph.refine.feedback import record_retrieved

        fed = bool(record_retrieved(self.store, episode_ids)["recorded"])
        if self.auto_distill:
            from ingestion.pipeline import distill_online

            distill_online(self.store, self.embedder, llm=self.llm, episode_ids=list(episode_ids))
        return fed

    def record(self, task: str, agent: str = "unknown",
               metadata: dict[str, Any] | None = None) -> EpisodeRecorder:
        """`with graph.record(task=...) as ep: ep.step(...)` writes the episode at block end."""
        from ingestion.record import EpisodeRecorder

        return EpisodeRecorder(lambda ep: self.ingest(ep), task=task, agent=agent,
                               metadata=metadata)

    def callback_handler(self, agent: str = "langchain") -> Any:
        """A langchain-core callback handler that records each run as an episode."""
        from ingestion.record import ExperienceCallbackHandler

        return ExperienceCallbackHandler(lambda ep: self.ingest(ep), agent=agent)

    def import_skills(self, path: str | Path) -> int:
        from expgraph.distill.skills import write_imported_skills
        from ingestion.skills_import import read_skill_library

        skills = read_skill_library(Path(path))
        return write_imported_skills(self.store, self.embedder, skills)

    # ------------------------------------------------------------------ distill / refine
    def distill(self, rebuild: bool = True, progress: Any = None) -> Any:
        """Offline: rebuild every derived node (states, skills, failures, guardrails).
        Execution feedback and refinement history survive the rebuild."""
        from expgraph.distill import distill

        if not rebuild:
            from ingestion.pipeline import distill_online

            return distill_online(self.store, self.embedder, llm=self.llm)
        if self._ingestor is not None:
            self._ingestor.reset()  # the states it knows are about to be replaced
        report = distill(self.store, self.embedder, llm=self.llm, rebuild=True, progress=progress)
        from ingestion.pipeline import mark_distilled

        mark_distilled(self.store)  # every stored episode is distilled now
        return report

    def refine(self, passes: Sequence[str] | None = None, dry_run: bool = False,
               progress: Any = None) -> Any:
        from expgraph.refine import refine

        report = refine(self.store, self.embedder, passes=passes, dry_run=dry_run, llm=self.llm,
                        progress=progress)
        if self._ingestor is not None and not dry_run:
            self._ingestor.reset()  # a recluster pass may have rebuilt the states
        return report

    def feedback(self, item_id: str, success: bool, episode_id: str | None = None) -> Any:
        from expgraph.refine.feedback import feedback

        return feedback(self.store, item_id, success, episode_id=episode_id)

    # ------------------------------------------------------------------ retrieval
    def query(self, state: str, task: str | None = None, k: int = 10,
              kinds: Sequence[str] = ("skill", "guardrail"), tiers: Sequence[str] | None = None,
              explain: bool = False, preset: str | Any = "hybrid",
              include_deprecated: bool = False) -> Any:
        from queries.retrieval import query

        return query(self.store, self.embedder, state, task=task, k=k, kinds=kinds, tiers=tiers,
                     explain=explain, preset=preset, include_deprecated=include_deprecated)

    def suggest(self, state: str, task: str | None = None, history: Sequence[str] | None = None,
                k: int = 5, candidates: Sequence[str] | None = None,
                explain: bool = False, max_false_avoid: float | None = None) -> SuggestResult:
        """What to do next from `state` and what to avoid. With `candidates` (the concrete
        actions available now) `next` ranks exactly those strings."""
        from queries.suggest import suggest

        return suggest(self.store, self.embedder, state, task=task, history=history, k=k,
                       candidates=candidates, explain=explain,
                       max_false_avoid=max_false_avoid)

    # ------------------------------------------------------------------ reading
    def stats(self) -> dict[str, Any]:
        """Nodes by label, relationships by type, skills by tier and status, guardrails by
        status: what a user asks first after an ingest or a refine."""
        from expgraph.models import Status, Tier

        skills = {t.value: dict.fromkeys([s.value for s in Status], 0) for t in Tier}
        for rec in self.store.find_nodes(Label.SKILL):
            tier = skills.setdefault(str(rec.props.get("tier", Tier.ATOMIC.value)), {})
            status = str(rec.props.get("status", Status.ACTIVE.value))
            tier[status] = tier.get(status, 0) + 1
        guardrails = dict.fromkeys([s.value for s in Status], 0)
        for rec in self.store.find_nodes(Label.GUARDRAIL):
            status = str(rec.props.get("status", Status.ACTIVE.value))
            guardrails[status] = guardrails.get(status, 0) + 1
        return {"nodes": self.store.count_by_label(), "relationships": self.store.count_by_type(),
                "skills": skills, "guardrails": guardrails}

    def node(self, id: str) -> NodeRecord | None:
        return self.store.get_node(id)

    def show(self, id: str) -> dict[str, Any]:
        from expgraph.refine.history import describe

        return describe(self.store, id)

    def to_networkx(self, labels: Sequence[Label | str] | None = None,
                    rel_types: Sequence[Rel | str] | None = None) -> nx.MultiDiGraph:
        return to_networkx(self.store, [Label(x) for x in labels] if labels else None,
                           [Rel(x) for x in rel_types] if rel_types else None)

    def export(self, path: str | Path, format: str = "json") -> Path:
        """Write the whole graph as JSON (nodes + edges) or GraphML."""
        from expgraph.export import export_graph

        return export_graph(self.store, Path(path), format)

    def draw(self, view: str = "hierarchy", out: str | Path | None = None, **kw: Any) -> Any:
        from expgraph.viz import draw

        return draw(self, view=view, out=out, **kw)


def _mapping(mapping: str | dict[str, str] | None) -> dict[str, str] | None:
    if mapping is None or isinstance(mapping, dict):
        return mapping
    from ingestion.adapters.generic import parse_mapping

    return parse_mapping(mapping)
