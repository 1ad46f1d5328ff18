"""Atomic and functional skills, mined without an LLM.

Atomic: one per action *template* (`click[buy now]` and `click[<item>]` are different skills:
retrieval names templates, and the constant argument is what makes `buy now` a skill of its
own). Functional: contiguous template sequences (length >= 2) shared by >= 2 successful
episodes, kept only when closed (no one-step extension has the same support). Sequences are
mined over each run's *procedure*: no-ops (`think`) and steps that errored are left out, so a
thought or a typo between two clicks does not split a procedure.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import lru_cache

from expgraph.distill.corpus import Corpus, EpisodeView, StepView
from expgraph.embedder import CachedEmbedder
from expgraph.models import ActionNode, EdgeRecord, Rel, SkillNode, Tier
from expgraph.scoring import utility
from expgraph.store.base import GraphStore
from expgraph.templates import split_key

MIN_SUPPORT = 2  # distinct successful episodes
MAX_SEQUENCE = 8  # longest n-gram mined
TOP_STATES = 3  # APPLIES_IN / LEADS_TO edges per skill
EPISODE_SAMPLE = 10  # DERIVED_FROM edges per skill
EXAMPLES = 3


def slot(tmpl: str) -> str | None:
    """`search[<query>]` -> `query`; a constant or bare template has no slot."""
    _, arg = split_key(tmpl)
    return arg[1:-1] if arg and arg.startswith("<") and arg.endswith(">") else None


def short(text: str, n: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def top(counter: Counter[str], k: int = TOP_STATES) -> list[str]:
    """Most common first, ties by id: deterministic."""
    return [x for x, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def episode_sample(eps: Sequence[EpisodeView], k: int = EPISODE_SAMPLE) -> list[str]:
    """Successful episodes first, then in ingest order."""
    ordered = sorted({e.id: e for e in eps}.values(), key=lambda e: (not e.success, e.seq, e.id))
    return [e.id for e in ordered[:k]]


@lru_cache(maxsize=65536)
def atomic_id(tmpl: str) -> str:
    """The id of the atomic skill of a template (a pure function of it: memoised, every
    functional skill's COMPOSED_OF edges ask again)."""
    return SkillNode(tier=Tier.ATOMIC, name=tmpl, actions=[tmpl]).id


def _step_ok(ep: EpisodeView, s: StepView) -> bool | None:
    if s.error is not None:
        return False
    return ep.success


def atomic_skills(corpus: Corpus, pitfalls: dict[str, list[str]],
                  state_text: dict[str, str]) -> tuple[list[SkillNode], list[EdgeRecord]]:
    uses: dict[str, list[tuple[EpisodeView, StepView]]] = defaultdict(list)
    for ep in corpus.distinct:
        for s in ep.acting():
            uses[s.template].append((ep, s))
    skills: list[SkillNode] = []
    edges: list[EdgeRecord] = []
    for tmpl in sorted(uses):
        items = uses[tmpl]
        outcomes = [_step_ok(ep, s) for ep, s in items]
        succ = sum(1 for o in outcomes if o is True)
        fail = sum(1 for o in outcomes if o is False)
        good = [(ep, s) for (ep, s), o in zip(items, outcomes, strict=True) if o]
        pre = Counter(s.state for _, s in (good or items) if s.state)
        post = Counter(s.next_state for _, s in good if s.next_state)
        examples = top(Counter(short(s.raw, 100) for _, s in good), EXAMPLES)
        params = _parameters(tmpl, [s for _, s in items])
        support = len({ep.id for ep, _ in items})
        where = "; ".join(f"'{short(state_text.get(x, x), 50)}'" for x in top(pre, 2))
        desc = (f"Action {tmpl}: used {len(items)} times in {support} episodes, "
                f"{succ} in successful runs, {fail} failed."
                + (f" Used in states like {where}." if where else ""))
        sk = SkillNode(tier=Tier.ATOMIC, name=tmpl, description=desc, actions=[tmpl],
                       parameters=params, preconditions=top(pre), verification=top(post),
                       examples=examples, pitfalls=pitfalls.get(tmpl, [])[:3], support=support,
                       uses=len(items), successes=succ, failures=fail,
                       utility=utility(succ, fail),
                       episodes=episode_sample([ep for ep, _ in items]))
        skills.append(sk)
        action_id = ActionNode(name=split_key(tmpl)[0]).id
        edges.append(EdgeRecord(src=sk.id, dst=action_id, type=Rel.USES))
        edges += _state_edges(sk)
    return skills, edges


def _parameters(tmpl: str, steps: list[StepView]) -> list[str]:
    s = slot(tmpl)
    if s:
        return [s]
    if "[" in tmpl:
        return []
    keys: set[str] = set()
    for st in steps:
        keys.update(json.loads(st.args).keys())
    return sorted(keys)


def _state_edges(sk: SkillNode) -> list[EdgeRecord]:
    edges = [EdgeRecord(src=sk.id, dst=s, type=Rel.APPLIES_IN) for s in sk.preconditions]
    edges += [EdgeRecord(src=sk.id, dst=s, type=Rel.LEADS_TO) for s in sk.verification]
    edges += [EdgeRecord(src=sk.id, dst=e, type=Rel.DERIVED_FROM) for e in sk.episodes]
    return edges


def _ngrams(seq: list[str], max_n: int = MAX_SEQUENCE) -> set[tuple[str, ...]]:
    return {tuple(seq[i:i + n]) for n in range(2, max_n + 1) for i in range(len(seq) - n + 1)}


def closed_sequences(runs: dict[str, list[str]], min_support: int = MIN_SUPPORT,
                     max_n: int = MAX_SEQUENCE) -> dict[tuple[str, ...], set[str]]:
    """Contiguous sequences (2..max_n) in >= min_support runs, minus every sequence that a
    one-step-longer sequence matches with the same support (it adds nothing)."""
    support: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for rid, seq in runs.items():
        for g in _ngrams(seq, max_n):
            support[g].add(rid)
    frequent = {g: r for g, r in support.items() if len(r) >= min_support}
    best_ext: dict[tuple[str, ...], int] = defaultdict(int)
    for h, r in frequent.items():
        if len(h) > 2:
            for sub in (h[1:], h[:-1]):
                best_ext[sub] = max(best_ext[sub], len(r))
    return {g: r for g, r in frequent.items() if best_ext.get(g, 0) < len(r)}


def _occurrences(steps: list[StepView], seq: tuple[str, ...]) -> list[int]:
    n = len(seq)
    tmpls = [s.template for s in steps]
    return [i for i in range(len(steps) - n + 1) if tuple(tmpls[i:i + n]) == seq]


def parameters(seq: Sequence[str]) -> list[str]:
    """The argument slots that vary along a sequence, numbered when a slot repeats."""
    seen: Counter[str] = Counter()
    out = []
    for t in seq:
        s = slot(t)
        if s:
            seen[s] += 1
            out.append(s if seen[s] == 1 else f"{s}_{seen[s]}")
    return out


def functional_skills(corpus: Corpus, state_text: dict[str, str]
                      ) -> tuple[list[SkillNode], list[EdgeRecord]]:
    procedures = {e.id: e.procedure() for e in corpus.succeeded}
    closed = closed_sequences({k: [s.template for s in v] for k, v in procedures.items()})
    failed_with: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for ep in corpus.failed:
        for g in _ngrams([s.template for s in ep.procedure()]):
            if g in closed:
                failed_with[g].add(ep.id)
    by_id = {e.id: e for e in corpus.episodes}
    skills: list[SkillNode] = []
    edges: list[EdgeRecord] = []
    for seq in sorted(closed, key=lambda g: (-len(closed[g]), -len(g), g)):
        eps = closed[seq]
        pre: Counter[str] = Counter()
        post: Counter[str] = Counter()
        for eid in sorted(eps):
            steps = procedures[eid]
            for i in _occurrences(steps, seq):
                if steps[i].state:
                    pre[steps[i].state] += 1
                if steps[i + len(seq) - 1].next_state:
                    post[steps[i + len(seq) - 1].next_state] += 1
        succ, fail = len(eps), len(failed_with.get(seq, ()))
        starts = "; ".join(f"'{short(state_text.get(x, x), 50)}'" for x in top(pre, 2))
        ends = "; ".join(f"'{short(state_text.get(x, x), 50)}'" for x in top(post, 2))
        desc = (f"{len(seq)}-step procedure followed by {succ} successful episodes "
                f"(and {fail} failed ones). Starts in states like {starts or '?'}; "
                f"succeeds when it reaches {ends or '?'}.")
        sk = SkillNode(tier=Tier.FUNCTIONAL, name=" -> ".join(seq), description=desc,
                       actions=list(seq), parameters=parameters(seq), preconditions=top(pre),
                       verification=top(post), support=succ, uses=succ + fail,
                       successes=succ, failures=fail, utility=utility(succ, fail),
                       examples=[" -> ".join(short(s.raw, 40) for s in
                                             procedures[eid][i:i + len(seq)])
                                 for eid in sorted(eps, key=lambda x: by_id[x].seq)[:2]
                                 for i in _occurrences(procedures[eid], seq)[:1]],
                       episodes=episode_sample([by_id[e] for e in eps]))
        skills.append(sk)
        edges += [EdgeRecord(src=sk.id, dst=atomic_id(t), type=Rel.COMPOSED_OF, key=str(i),
                             props={"order": i}) for i, t in enumerate(seq)]
        edges += _state_edges(sk)
    return skills, edges


def write_imported_skills(store: GraphStore, embedder: CachedEmbedder,
                          skills: list[SkillNode]) -> int:
    """Embed and upsert skills from an external library; `distill(rebuild=True)` keeps them."""
    if not skills:
        return 0
    for sk in skills:
        sk.source = "imported"
    recs = [sk.to_record(store.namespace) for sk in skills]
    vecs = embedder.embed([r.text for r in recs])
    for rec, vec in zip(recs, vecs, strict=True):
        rec.embedding = vec.tolist()
    with store.transaction():
        store.upsert_nodes(recs)
    return len(recs)

