"""`suggest`: the next actions experience supports from a state, and the ones to avoid.

Candidates come from every signal at once (`expgraph.memory.features`): the nearest
successful steps by newest message, by window and by task; the steps that followed the same
previous action; earlier attempts of the same task; first- and second-order history n-grams
(global and per task cluster); the nearest abstract states' successful transitions; the next
step of the skills and plans that apply. The store's learned fusion (fit by `refine`'s
`advice` pass, leave-episode-out; a fixed fusion before that) ranks them. Avoid: the avoid
model's risk that the action fails here (nearest failing vs succeeding steps that took it,
guardrails), flagged above the threshold calibrated on the store's own successful actions.

Each suggestion carries the concrete actions the nearest successful steps took with that
template (`grounded`), preferring argument values visible in the current state. With
`candidates=[...]` (the concrete actions available now) `next` ranks exactly those strings.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from expgraph.actions import text_action
from expgraph.distill.states import canonicalize, state_id
from expgraph.memory.features import (
    EVIDENCE,
    RISK_FEATURES,
    Probe,
    Rows,
    candidate_rows,
    history_ids,
    normalise_action,
)
from expgraph.memory.index import StepMemory, step_memory
from expgraph.memory.model import AdviceModel, load_model
from expgraph.memory.records import MAX_VIEW, step_views, written
from expgraph.memory.sources import top_k
from expgraph.store.base import GraphStore
from expgraph.templates import action_key
from queries.corpus import embed_texts, quiet_blas
from queries.schema import AvoidAction, NextAction, SuggestRequest, SuggestResult
from queries.votes import concrete, weigh

GROUNDING_NEIGHBOURS = 20
GUARDRAIL = RISK_FEATURES.index("guardrail")
EVIDENCE_COLUMNS = [RISK_FEATURES.index(n) for n in EVIDENCE]
GUARDRAIL_FLAG = 0.5  # a rule seen failing in several episodes (scoring.guardrail_severity)
TEMPLATE_WEIGHT = 0.25  # the template's fused score, beside the concrete votes

_MODELS: weakref.WeakKeyDictionary[Any, tuple[int, AdviceModel]] = weakref.WeakKeyDictionary()
_MODELS_LOCK = threading.Lock()


def advice_model(store: GraphStore) -> AdviceModel:
    """The store's fitted model, read once per generation."""
    gen = store.generation()
    with _MODELS_LOCK:
        hit = _MODELS.get(store)
        if hit is not None and hit[0] == gen:
            return hit[1]
    model = load_model(store)
    with _MODELS_LOCK:
        _MODELS[store] = (gen, model)
    return model


def suggest(store: GraphStore, embedder: Any, state: str, task: str | None = None,
            history: Sequence[str] | None = None, k: int = 5,
            candidates: Sequence[str] | None = None, explain: bool = False,
            max_false_avoid: float | None = None) -> SuggestResult:
    """Next actions for `state`, best first, and the actions to avoid. `max_false_avoid`
    moves the avoid threshold: the share of a new run's successful actions that may be
    flagged, with 95 % confidence (default 0.05)."""
    request = SuggestRequest(state=state, task=task, history=list(history) if history else None,
                             k=k,
                             candidates=list(candidates) if candidates is not None else None,
                             explain=explain, max_false_avoid=max_false_avoid)
    with quiet_blas():
        mem = step_memory(store, embedder)
        model = advice_model(store)
        if max_false_avoid is not None:
            model = replace(model, threshold=model.threshold_for(max_false_avoid))
        probe = _probe(mem, embedder, state, task, history or ())
        include = []
        if candidates:
            include = [mem.action_index[t] for t in
                       (normalise_action(mem, c) for c in candidates) if t in mem.action_index]
        rows = candidate_rows(mem, probe, include=include)
        if candidates is not None:
            nxt, avoid = _rank_given(mem, model, rows, probe, embedder, state, task,
                                     history or (), list(candidates), k, explain)
        else:
            nxt, avoid = _rank_templates(mem, model, rows, state, k, explain)
    return SuggestResult(query=request, next=nxt, avoid=avoid)


def _probe(mem: StepMemory, embedder: Any, state: str, task: str | None,
           history: Sequence[str]) -> Probe:
    newest, window = step_views(state)
    last = action_key(text_action(history[-1])) if history else ""  # the previous action's key
    said = written(history[-1], last)[:MAX_VIEW] if history else ""
    texts = [newest, window] + ([task] if task else []) + ([said] if said else [])
    vecs = embed_texts(embedder, texts)
    ids, tmpls = history_ids(mem, history)
    return Probe(new=vecs[0], win=vecs[1], task=vecs[2] if task else None, history=ids,
                 said=vecs[-1] if said else None,
                 history_templates=tmpls, state=state_id(canonicalize(state)),
                 history_text=last,
                 history_raw=list(history), task_text=task or "",
                 embed=lambda texts: embed_texts(embedder, texts))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -60 else 0.0


def _rank_templates(mem: StepMemory, model: AdviceModel, rows: Rows, state: str, k: int,
                    explain: bool) -> tuple[list[NextAction], list[AvoidAction]]:
    if not rows.candidates:
        return [], []
    scores = model.next.score(rows.next_x)
    risks = model.risk.prob(rows.risk_x)
    order = sorted(range(len(rows.candidates)), key=lambda r: (-scores[r], rows.candidates[r]))
    nxt = []
    for r in order[:k]:
        c = rows.candidates[r]
        ground = grounded(mem, rows, c, state)
        nxt.append(NextAction(
            action=mem.actions[c], template=mem.actions[c], score=round(_sigmoid(scores[r]), 6),
            support=_support(mem, rows, c), skills=rows.skills_of.get(c, []),
            grounded=[g for g, _, _ in ground], arguments=ground[0][1] if ground else {},
            explain=model.next.contributions(rows.next_x[r]) if explain else None))
    return nxt, _avoid(mem, model, rows, risks, k, explain)


def _flagged(model: AdviceModel, rows: Rows, risks: np.ndarray, r: int) -> bool:
    """Above the calibrated threshold, with evidence of failure here (a failing neighbour, a
    guardrail or failures in these states): never for merely being unusual. A guardrail
    of severity >= GUARDRAIL_FLAG forbidding it here flags it by itself."""
    if rows.risk_x[r, GUARDRAIL] >= GUARDRAIL_FLAG:
        return True
    evidence = rows.risk_x[r, EVIDENCE_COLUMNS].any()
    return bool(risks[r] >= model.threshold and evidence)


def _avoid(mem: StepMemory, model: AdviceModel, rows: Rows, risks: np.ndarray, k: int,
           explain: bool) -> list[AvoidAction]:
    flagged = [r for r in range(len(rows.candidates)) if _flagged(model, rows, risks, r)]
    flagged.sort(key=lambda r: (-risks[r], rows.candidates[r]))
    out = []
    for r in flagged[:k]:
        c = rows.candidates[r]
        out.append(AvoidAction(
            action=mem.actions[c], score=round(float(risks[r]), 6),
            guardrails=rows.guards_of.get(c, []),
            explain=model.risk.contributions(rows.risk_x[r]) if explain else None))
    return out


def _rank_given(mem: StepMemory, model: AdviceModel, rows: Rows, probe: Probe, embedder: Any,
                state: str, task: str | None, history: Sequence[str], candidates: list[str],
                k: int, explain: bool) -> tuple[list[NextAction], list[AvoidAction]]:
    """Rank exactly the caller's concrete actions: first by the concrete evidence of the
    nearest steps (`queries.votes.weigh`: the successes' votes, less the errored steps'
    weight against), then by the template's fused score (weight `TEMPLATE_WEIGHT`), which
    ranks what no neighbour did and breaks ties: the score of a template with a slot is
    shared by the given actions that fill it (it says which kind of action may come next,
    not on which object: with no evidence for any, a focus on one of 40 objects is no better
    a bet than `look around`); an action that answered another of this task's instructions
    keeps none of its own template's score."""
    row_of = {c: r for r, c in enumerate(rows.candidates)}
    scores = model.next.score(rows.next_x) if rows.candidates else np.zeros(0)
    risks = model.risk.prob(rows.risk_x) if rows.candidates else np.zeros(0)
    ev = weigh(mem, rows, probe, embedder, state, task, history, candidates)
    votes, failed = ev.votes, ev.failed
    ranked = []
    fillers = Counter(ev.tmpls)
    for j, (text, tmpl) in enumerate(zip(ev.texts, ev.tmpls, strict=True)):
        c = mem.action_index.get(tmpl, -1)
        r = row_of.get(c)
        base = _sigmoid(scores[r]) if r is not None else _sigmoid(model.next.bias)
        if "<" in tmpl:  # a slot: its fillers share the template's score
            base /= fillers[tmpl]
        elif j in ev.answered:  # the action's own score: earned answering another instruction
            base = 0.0
        score = votes.get(text, 0.0) + TEMPLATE_WEIGHT * base - failed.get(text, 0.0)
        ranked.append((score, text, tmpl, c, r))
    ranked.sort(key=lambda x: (-x[0], x[1]))
    nxt = [NextAction(action=text, template=tmpl, score=round(score, 6),
                      support=_support(mem, rows, c) if c >= 0 else 0,
                      skills=rows.skills_of.get(c, []),
                      explain=(model.next.contributions(rows.next_x[r])
                               if explain and r is not None else None))
           for score, text, tmpl, c, r in ranked[:k]]
    # Avoid among the given actions: those whose errored evidence outweighs the successes'
    # votes for them, and those whose template the avoid model flags where no near
    # successful step took that template nor, up to the task analogy, that very action.
    # Which object to act on is the concrete evidence's call: a template that is one
    # concrete action, with errored steps that took it, is judged by those steps above.
    flagged = []
    for _, text, tmpl, c, r in ranked:
        if failed.get(text, 0.0) > votes.get(text, 0.0):
            flagged.append(AvoidAction(action=text, score=round(failed[text], 6)))
        elif (r is not None and c not in ev.kinds and text not in ev.backed
              and ("<" in tmpl or text not in failed) and _flagged(model, rows, risks, r)):
            flagged.append(AvoidAction(
                action=text, score=round(float(risks[r]), 6),
                guardrails=rows.guards_of.get(c, []),
                explain=model.risk.contributions(rows.risk_x[r]) if explain else None))
    flagged.sort(key=lambda x: (-x.score, x.action))
    return nxt, flagged[:k]


def _support(mem: StepMemory, rows: Rows, c: int) -> int:
    """How many of the nearest successful steps took it."""
    a = mem.arrays
    return int(np.sum(a["label"][rows.neighbours] == c)) if len(rows.neighbours) else 0


def grounded(mem: StepMemory, rows: Rows, c: int, state: str, limit: int = 3,
             ) -> list[tuple[str, dict[str, Any], float]]:
    """The concrete actions with template `c` that the nearest successful steps took, best
    first: similarity-weighted, and doubled where every argument value is in `state`. The
    values the agent's own plan names and it has not taken yet come before them."""
    if c < 0 or not len(mem):
        return []
    a = mem.arrays
    steps = mem.steps_taking(c)  # its steps (ascending), not a pass over every step
    steps = steps[a["ok"][steps] & ~a["err"][steps]]
    sims = rows.sims[steps]
    seen = sims > -1.0  # in the query's universe (the rest read -1, below all of these)
    if np.count_nonzero(seen) >= GROUNDING_NEIGHBOURS:  # no ties at -1 to sort out
        steps, sims = steps[seen], sims[seen]
    near = steps[top_k(sims, np.ones(steps.size, bool), GROUNDING_NEIGHBOURS)]
    seen = state.lower()
    best: dict[str, tuple[float, dict[str, Any]]] = {}
    for i in near.tolist():
        text = concrete(mem, i)
        args = mem.arguments[i]
        values = [str(v).lower() for v in args.values() if isinstance(v, str | int | float)]
        present = sum(1 for v in values if v and v in seen) / len(values) if values else 0.0
        w = max(float(rows.sims[i]), 0.0) * (1.0 + present)
        old = best.get(text)
        best[text] = ((old[0] if old else 0.0) + w, args)
    planned = list(dict.fromkeys(rows.planned.get(c, ())))  # what the agent's own plan names
    order = [(t, (best.get(t, (0.0, None))[0], dict(text_action(t).arguments)))
             for t in planned]
    order += sorted(((t, v) for t, v in best.items() if t not in set(planned)),
                    key=lambda kv: (-kv[1][0], kv[0]))
    return [(text, args, round(w, 6)) for text, (w, args) in order[:limit]]
