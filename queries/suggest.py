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

import json
import math
import re
import threading
import weakref
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from expgraph.actions import TEXT_VERB_SLOTS, text_action
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
from expgraph.memory.records import step_views
from expgraph.memory.sources import top_k
from expgraph.store.base import GraphStore
from expgraph.templates import action_key
from queries.corpus import embed_texts, quiet_blas
from queries.schema import AvoidAction, NextAction, SuggestRequest, SuggestResult

TEXT_SLOTS = {*TEXT_VERB_SLOTS.values(), "arg"}
GROUNDING_NEIGHBOURS = 20
GUARDRAIL = RISK_FEATURES.index("guardrail")
EVIDENCE_COLUMNS = [RISK_FEATURES.index(n) for n in EVIDENCE]
GUARDRAIL_FLAG = 0.5  # a rule seen failing in several episodes (scoring.guardrail_severity)
_WORD = re.compile(r"[a-z0-9]+")

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
            nxt, avoid = _rank_given(mem, model, rows, state, list(candidates), k, explain)
        else:
            nxt, avoid = _rank_templates(mem, model, rows, state, k, explain)
    return SuggestResult(query=request, next=nxt, avoid=avoid)


def _probe(mem: StepMemory, embedder: Any, state: str, task: str | None,
           history: Sequence[str]) -> Probe:
    newest, window = step_views(state)
    texts = [newest, window] + ([task] if task else [])
    vecs = embed_texts(embedder, texts)
    ids, tmpls = history_ids(mem, history)
    return Probe(new=vecs[0], win=vecs[1], task=vecs[2] if task else None, history=ids,
                 history_templates=tmpls, state=state_id(canonicalize(state)),
                 history_text=action_key(text_action(history[-1])) if history else "",
                 task_text=task or "")


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


def _rank_given(mem: StepMemory, model: AdviceModel, rows: Rows, state: str,
                candidates: list[str], k: int, explain: bool,
                ) -> tuple[list[NextAction], list[AvoidAction]]:
    """Rank exactly the caller's concrete actions: the fused score of each one's template,
    sharpened by how closely it matches what the nearest successful steps did concretely."""
    row_of = {c: r for r, c in enumerate(rows.candidates)}
    scores = model.next.score(rows.next_x) if rows.candidates else np.zeros(0)
    risks = model.risk.prob(rows.risk_x) if rows.candidates else np.zeros(0)
    exact = _exact_votes(mem, rows)
    ranked = []
    for text in dict.fromkeys(candidates):
        tmpl = normalise_action(mem, text)
        c = mem.action_index.get(tmpl, -1)
        r = row_of.get(c)
        base = _sigmoid(scores[r]) if r is not None else _sigmoid(model.next.bias)
        ground = grounded(mem, rows, c, state) if r is not None else []
        overlap = max((_jaccard(text, g) for g, _, _ in ground), default=0.0)
        score = base * (0.5 + 0.5 * overlap) + exact.get(_norm(text), 0.0)
        ranked.append((score, text, tmpl, c, r))
    ranked.sort(key=lambda x: (-x[0], x[1]))
    nxt = [NextAction(action=text, template=tmpl, score=round(score, 6),
                      support=_support(mem, rows, c) if c >= 0 else 0,
                      skills=rows.skills_of.get(c, []),
                      explain=(model.next.contributions(rows.next_x[r])
                               if explain and r is not None else None))
           for score, text, tmpl, c, r in ranked[:k]]
    # Avoid among the given actions: those whose template the avoid model flags.
    flagged = []
    for _, text, _, c, r in ranked:
        if r is not None and _flagged(model, rows, risks, r):
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


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _jaccard(a: str, b: str) -> float:
    x, y = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(x & y) / len(x | y) if x | y else 0.0


def concrete(mem: StepMemory, i: int) -> str:
    """The concrete action step `i` took, as an agent would write it."""
    raw = mem.raw[i].strip()
    name = mem.actions[mem.label[i]].split("[", 1)[0]
    args = mem.arguments[i]
    if raw and not raw.startswith(("{", "[")):
        return raw
    if not args:
        return name
    if len(args) == 1:
        (slot, value), = args.items()
        if slot in TEXT_SLOTS and isinstance(value, str):
            return f"{name}[{value}]"  # a ReAct-style text action, as the agent writes it
    return f"{name}({json.dumps(args, sort_keys=True, ensure_ascii=False)})"


def grounded(mem: StepMemory, rows: Rows, c: int, state: str, limit: int = 3,
             ) -> list[tuple[str, dict[str, Any], float]]:
    """The concrete actions with template `c` that the nearest successful steps took, best
    first: similarity-weighted, and doubled where every argument value is in `state`."""
    if c < 0 or not len(mem):
        return []
    a = mem.arrays
    pool = a["ok"] & ~a["err"] & (a["label"] == c)
    near = top_k(rows.sims, pool, GROUNDING_NEIGHBOURS)
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
    order = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    return [(text, args, round(w, 6)) for text, (w, args) in order]


def _exact_votes(mem: StepMemory, rows: Rows) -> dict[str, float]:
    """Similarity-weighted share of the nearest successful steps that took each concrete
    action (normalised text)."""
    out: dict[str, float] = {}
    near = rows.neighbours
    if not len(near):
        return out
    w = np.clip(rows.sims[near], 0.0, None)
    total = float(w.sum()) or 1.0
    for i, wi in zip(near.tolist(), w.tolist(), strict=True):
        key = _norm(concrete(mem, i))
        out[key] = out.get(key, 0.0) + wi / total
    return out
