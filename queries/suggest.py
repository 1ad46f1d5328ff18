"""`suggest`: the next actions experience supports from a state, and the ones to avoid.

Two sources of next actions, each normalised to [0, 1] and mixed by the preset's
`suggest` weights:
- transitions: what agents did next from the states nearest to this one (their outgoing
  TRANSITION edges, summed per action template), success-weighted and scaled by the
  template's Wilson utility there (graph presets only: it is a walk from the nearest states);
- skills: the next action each retrieved skill prescribes (for a multi-step skill, the action
  after the part of its sequence that `history` has already done), weighted by the skill's
  fused score.
Avoid: the templates the retrieved guardrails forbid (weighted by score and severity; with a
graph preset only guardrails the walk reached, i.e. bound to these states or their skills),
plus the templates that *errored* from the nearest states (weighted by the Wilson lower bound
of their error rate, no guardrail behind them: `guardrails` is empty).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from expgraph.scoring import wilson_lower_bound
from expgraph.store.base import GraphStore
from queries.config import SearchConfig, get_config
from queries.corpus import ServedCorpus, quiet_blas, served_corpus
from queries.retrieval import QueryContext, Ranked, rank_items
from queries.schema import AvoidAction, NextAction, SuggestRequest, SuggestResult


def next_in_sequence(actions: Sequence[str], history: Sequence[str]) -> str | None:
    """The action that follows what `history` already did of `actions`.

    The longest suffix of `history` that occurs in `actions` marks the position (the earliest
    occurrence on ties); no overlap means the sequence has not begun (its first action); a
    match ending at the last action means the sequence is done (None)."""
    if not actions:
        return None
    best_len, best_end = 0, -1
    for end in range(len(actions)):  # actions[.. end] matched by a suffix of history
        n = 0
        while n <= end and n < len(history) and actions[end - n] == history[-1 - n]:
            n += 1
        if n > best_len:
            best_len, best_end = n, end
    if best_len == 0:
        return actions[0]
    return actions[best_end + 1] if best_end + 1 < len(actions) else None


def transition_scores(per_state: Sequence[tuple[float, dict[str, Any]]], success_weight: float,
                      ) -> tuple[dict[str, float], dict[str, int]]:
    """Mix the next-action distributions of the seed states (weights w), each template's share
    counted as (count + b * successes) / (sum over the state), scaled by (1 + Wilson lower
    bound of its success rate there). Returns scores and support (times taken)."""
    scores: dict[str, float] = {}
    support: dict[str, int] = {}
    for w, stats in per_state:
        total = sum(s.count + success_weight * s.successes for s in stats.values())
        if total <= 0:
            continue
        for t, s in stats.items():
            share = (s.count + success_weight * s.successes) / total
            scores[t] = scores.get(t, 0.0) + w * share * (1 + wilson_lower_bound(s.successes,
                                                                                   s.count))
            support[t] = support.get(t, 0) + s.count
    return scores, support


def skill_next_actions(ranked: Sequence[Ranked], history: Sequence[str],
                       applicable: Collection[str] | None = None,
                       ) -> tuple[dict[str, float], dict[str, list[str]], dict[str, int]]:
    """Each skill votes its next action with its fused score. Without a history, where a
    multi-step skill stands is unknown: it votes (its first action) only when it applies in
    this very state (`applicable`, None = no such restriction)."""
    scores: dict[str, float] = {}
    skills: dict[str, list[str]] = {}
    support: dict[str, int] = {}
    for r in ranked:
        acts = r.item.actions
        if len(acts) == 1:
            nxt: str | None = acts[0]
        elif not history and applicable is not None and r.item.id not in applicable:
            continue
        else:
            nxt = next_in_sequence(acts, history)
        if nxt is None:
            continue
        scores[nxt] = scores.get(nxt, 0.0) + r.score
        skills.setdefault(nxt, []).append(r.item.id)
        support[nxt] = max(support.get(nxt, 0), r.item.episodes)
    return scores, skills, support


def avoid_actions(ranked: Sequence[Ranked]) -> tuple[dict[str, float], dict[str, list[str]]]:
    scores: dict[str, float] = {}
    guards: dict[str, list[str]] = {}
    for r in ranked:
        for t in r.item.avoid:
            scores[t] = scores.get(t, 0.0) + r.score * (0.5 + 0.5 * min(r.item.severity, 1.0))
            guards.setdefault(t, []).append(r.item.id)
    return scores, guards


def error_scores(per_state: Sequence[tuple[float, dict[str, Any]]]) -> dict[str, float]:
    """Templates that errored from the seed states: weight times the Wilson lower bound of
    their error rate there (a single error in 50 tries stays near 0)."""
    scores: dict[str, float] = {}
    for w, stats in per_state:
        for t, s in stats.items():
            if s.errors:
                scores[t] = scores.get(t, 0.0) + w * wilson_lower_bound(s.errors, s.count)
    return scores


def _normalised(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values(), default=0.0)
    return {t: s / top for t, s in scores.items()} if top > 0 else {}


def suggest(store: GraphStore, embedder: Any, state: str, task: str | None = None,
            history: Sequence[str] | None = None, k: int = 5,
            preset: str | SearchConfig = "hybrid") -> SuggestResult:
    """Next action templates for `state`, best first, and the templates to avoid."""
    with quiet_blas():
        return _suggest(store, embedder, state, task, history, k, preset)


def _suggest(store: GraphStore, embedder: Any, state: str, task: str | None,
             history: Sequence[str] | None, k: int,
             preset: str | SearchConfig) -> SuggestResult:
    cfg = get_config(preset)
    request = SuggestRequest(state=state, task=task, history=list(history) if history else None,
                             k=k, preset=cfg.name)
    corpus: ServedCorpus = served_corpus(store)
    ctx = QueryContext.build(embedder, state, task)
    ctx.prefetch(ctx.needs(store, cfg))
    hist = [corpus.normalise_action(a) for a in history or ()]
    sc = cfg.suggest

    trans: dict[str, float] = {}
    support: dict[str, int] = {}
    errored: dict[str, float] = {}
    if cfg.uses("graph") and (sc.transitions > 0 or sc.errors > 0):
        seeds = ctx.state_seeds(store, cfg)
        per_state = [(w, corpus.transitions(store, sid)) for sid, w in seeds.items()]
        if sc.transitions > 0:
            trans, support = transition_scores(per_state, sc.success_weight)
        if sc.errors > 0:
            errored = error_scores(per_state)

    ranked = rank_items(store, corpus, ctx, cfg) if corpus.items else []
    skill_ranked = [r for r in ranked if r.item.kind == "skill"][:sc.skill_pool]
    guard_ranked = [r for r in ranked if r.item.kind == "guardrail"]
    if cfg.uses("graph") and ctx.state_seeds(store, cfg):
        # A guardrail is bound to states: with known states nearby, warn only with the ones
        # the walk reached (guarding these states or the skills that apply in them).
        guard_ranked = [r for r in guard_ranked if r.signals.graph > 0]
    guard_ranked = guard_ranked[:sc.guardrail_pool]
    applicable: set[str] | None = None
    if not hist and cfg.uses("graph"):
        applicable = set()
        for sid in ctx.state_seeds(store, cfg):
            applicable |= corpus.applicable(store, sid)
    by_skill, skills_of, skill_support = skill_next_actions(skill_ranked, hist, applicable)

    combined: dict[str, float] = {}
    for part, w in ((_normalised(trans), sc.transitions), (_normalised(by_skill), sc.skills)):
        for t, s in part.items():
            combined[t] = combined.get(t, 0.0) + w * s
    order = sorted(combined.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    nxt = [NextAction(action=t, score=round(s, 6),
                      support=support.get(t, 0) or skill_support.get(t, 0),
                      skills=skills_of.get(t, [])) for t, s in order]

    by_guard, guards = avoid_actions(guard_ranked)
    bad: dict[str, float] = {}
    for part, w in ((_normalised(by_guard), sc.guardrails), (errored, sc.errors)):
        for t, s in part.items():
            bad[t] = bad.get(t, 0.0) + w * s
    avoid = [AvoidAction(action=t, score=round(s, 6), guardrails=guards.get(t, []))
             for t, s in sorted(bad.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]
    return SuggestResult(query=request, next=nxt, avoid=avoid)
