"""One feature row per candidate next action, from every source at once.

`probe` describes the question (the query's vectors, its history as action ids, its exact
abstract state, the steps it may not see); `candidate_rows` returns the candidates with their
next-action features (what the fusion model ranks) and their risk features (what the avoid
model scores). Names are fixed so a trained model and `explain=True` can name them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from expgraph.actions import text_action
from expgraph.memory import ann
from expgraph.memory import sources as src
from expgraph.memory.index import NO, StepMemory
from expgraph.memory.records import TEXT_CALL, written
from expgraph.templates import action_key

Embed = Callable[[list[str]], "np.ndarray | list[np.ndarray]"]

NEXT_FEATURES = (
    "knn_newest",       # votes of the 10 nearest successful steps (newest message)
    "knn_window",       # the same over the whole observation window
    "knn_task",         # nearest by message and task together
    "knn_history",      # nearest among the steps that followed the same previous action
    "nearest_newest",   # 1 if the single nearest step took it
    "nearest_task",     # 1 if the nearest step by message and task took it
    "same_task",        # what earlier attempts of this very task did at this point
    "markov1",          # P(next | previous action)
    "markov2",          # P(next | two previous actions)
    "markov_cluster",   # P(next | previous action) within the task's cluster
    "state",            # what successful agents did from the nearest abstract states
    "skill",            # the next step of the skills and plans that apply here
    "position",         # how often it is taken at this step number
    "prior",            # how often it is taken at all
    "risk",             # share of the nearest steps taking it that failed
    "confident_newest",  # knn_newest scaled by the nearest similarity
    "confident_task",    # knn_task scaled by the nearest similarity
    "rank_newest",      # 1 / its rank among knn_newest's proposals
    "rank_task",        # 1 / its rank among knn_task's proposals
    "rank_markov1",     # 1 / its rank in P(next | previous action)
    "rank_markov2",     # 1 / its rank in P(next | two previous actions)
    "mention_history",  # share of its literal words the previous action's text names
    "mention_task",     # share of its literal words the task names
    "repeat",           # 1 if it is the previous action again
    "plan",             # +1 it takes a value the episode's latest plan names and no action took
                        # yet; -1 the plan's values are all taken and it is what took them
    "knn_said",         # nearest by message and the previous action as written together
)
RISK_FEATURES = (
    "risk_knn",         # similarity-weighted failed share among the 20 nearest that took it
    "failure_nearest",  # similarity of a near failing step (>= 0.6) that took it
    "guardrail",        # severity of a guardrail forbidding it in these states
    "state_failed",     # failed share of the steps taking it in the nearest abstract states
    "failure_unusual",  # how unusual that failing step's action was for successful agents
    "success_nearest",  # similarity of the nearest successful step that took it
    "failure_margin",   # failure_nearest - success_nearest
    "error_nearest",    # similarity of a near errored step (>= 0.6) that took it
    "risk_window",      # risk_knn over the whole observation window
    "risk_sequence",    # failed share of the steps that took it after the same two actions
)
# evidence of failure here: without one of these, no risk score flags an action
EVIDENCE = ("risk_knn", "failure_nearest", "guardrail", "state_failed", "error_nearest",
            "risk_window", "risk_sequence")
K = 10
SAME_TASK = 0.97  # task-embedding similarity that means "the same task"
SAME_KIND = 0.6  # two of a plan's values this similar are of one kind (a size and a size)


@dataclass
class Probe:
    new: np.ndarray
    win: np.ndarray
    task: np.ndarray | None
    history: list[int] = field(default_factory=list)
    history_templates: list[str] = field(default_factory=list)
    state: str | None = None
    history_text: str = ""  # the previous action as written (what a thought says comes next)
    history_raw: list[str] = field(default_factory=list)  # the previous actions as written
    embed: Embed | None = None  # unit vectors of short texts (a plan's values)
    said: np.ndarray | None = None  # the previous action as written, embedded (no history: None)
    task_text: str = ""
    exclude_episode: int = NO
    exclude_task: int = NO
    hide: np.ndarray | None = None  # steps it must not see (a training fold), by step index


@dataclass
class Rows:
    candidates: list[int]
    next_x: np.ndarray
    risk_x: np.ndarray
    neighbours: np.ndarray  # nearest successful steps (for grounding)
    sims: np.ndarray  # newest-message similarity of every step
    task_sims: np.ndarray | None = None  # the question's task vs each stored task (with a task)
    skills_of: dict[int, list[str]] = field(default_factory=dict)  # skills voting for it
    guards_of: dict[int, list[str]] = field(default_factory=dict)  # guardrails forbidding it
    planned: dict[int, list[str]] = field(default_factory=dict)  # the plan's untaken values


def normalise_action(mem: StepMemory, action: str) -> str:
    """Any action string (raw `click[Buy Now]`, `go to desk 1`, a tool name, a key or a
    template) as the template the memory knows it by."""
    s = action.strip()
    if s in mem.action_index:
        return s
    if TEXT_CALL.match(s):
        return mem.template(action_key(text_action(s)))
    call = text_action(s)
    t = mem.template(action_key(call))
    if t in mem.action_index:
        return t
    return call.name if call.name in mem.action_index else t


def history_ids(mem: StepMemory, history: Sequence[str]) -> tuple[list[int], list[str]]:
    tmpls = [normalise_action(mem, a) for a in history]
    return [mem.action_index.get(t, -2) for t in tmpls], tmpls  # -2: unknown, matches nothing


def candidate_rows(mem: StepMemory, probe: Probe, max_candidates: int = 30,
                   include: Sequence[int] = ()) -> Rows:
    """Candidates (every source's proposals, plus `include`) and their feature rows."""
    a = mem.arrays
    n = len(mem)
    # a question that sees every step (not a training probe): what reads every step and
    # depends only on the history, the state or the cluster is computed once per write
    memo = mem.memo(a) if probe.exclude_episode == NO and probe.exclude_task == NO \
        and probe.hide is None else None
    visible = np.ones(n, dtype=bool)
    if probe.exclude_episode != NO:
        visible &= a["episode"] != probe.exclude_episode
    if probe.exclude_task != NO:
        visible &= a["task"] != probe.exclude_task
    if probe.hide is not None:
        visible &= ~probe.hide
    failing = a["failing"]
    good = _once(memo, "good", lambda: visible & a["ok"] & ~a["err"])
    labels = a["label"]
    if probe.task is not None and len(a["task_vecs"]):
        task_sim = a["task_vecs"] @ probe.task
        if probe.exclude_task != NO:
            task_sim = task_sim.copy()
            task_sim[probe.exclude_task] = -1.0
    else:
        task_sim = np.zeros(len(a["task_vecs"]), np.float32)
    hist = probe.history
    h1 = hist[-1] if hist else NO
    # Neighbour sources read the query's universe: every step on a small store, else the
    # nearest steps from the ANN index plus what the features below need (expgraph/memory/ann).
    u = _universe(mem, probe, task_sim, good, failing & visible, lambda: [
        ann.Need(good, K), ann.Need(visible, 20), ann.Need(good & (a["prev1"] == h1), K),
        ann.Need(failing & visible, 5, 0.6), ann.Need(a["err"] & visible, 3, 0.6)])
    s_new, s_task, lab, ok_u = u.new, u.task, u.local(labels), u.local(good)

    knn_new, top_new, sim_new = src.knn_votes(s_new, lab, ok_u, K)
    knn_win, _, _ = src.knn_votes(u.win, lab, ok_u, K)
    both = 0.5 * (s_new + s_task)
    knn_task, top_task, sim_task = src.knn_votes(both, lab, ok_u, K)
    status = plan_status(probe.history_raw)
    if status >= PLAN_PENDING:
        # inside its own plan, an agent does what others did at the same point of theirs
        # (after one of two options, the other; after the last, the purchase)
        at_point = _at_point(mem, u.idx, both, ok_u, status, K)
        knn_task, top_task, sim_task = src.knn_votes(both, lab, at_point, K)
    knn_said: src.Votes = {}
    if probe.said is not None:
        s_said = (a["said"] if u.full else a["said"][u.idx]) @ probe.said
        knn_said, _, _ = src.knn_votes(0.5 * (s_new + s_said), lab, ok_u, K)
    prev1_u = u.local(a["prev1"])
    knn_hist, _, _ = src.knn_votes(s_new, lab, ok_u & (prev1_u == h1), K)
    same = ok_u & (s_task >= SAME_TASK) & (u.local(a["position"]) == len(hist))
    same_task, _, _ = src.knn_votes(s_new, lab, same & (prev1_u == h1), 3)
    h2 = hist[-2] if len(hist) >= 2 else NO
    m1 = _once(memo, ("markov1", h1),
               lambda: src.markov(labels, a["prev1"], a["prev2"], good, hist, 1))
    m2 = _once(memo, ("markov2", h1, h2),
               lambda: src.markov(labels, a["prev1"], a["prev2"], good, hist, 2)) \
        if len(hist) >= 1 else {}
    cluster = NO
    if probe.task is not None and task_sim.size:
        best = int(np.argmax(task_sim))
        cluster = mem.cluster_of(best) if task_sim[best] > 0.5 else NO
    if cluster != NO:
        def cluster_markov() -> src.Votes:
            in_cluster = np.isin(a["task"], mem.cluster_tasks(cluster))
            return src.markov(labels, a["prev1"], a["prev2"], good & in_cluster, hist, 1)

        mc = _once(memo, ("cluster", cluster, h1), cluster_markov)
    else:
        mc = {}
    near_ok = u.idx[src.top_k(s_new, ok_u, K)]
    state_ids = {probe.state} if probe.state else set()
    state_ids |= {mem.state[i] for i in near_ok[:5].tolist()} - {None}
    states = [mem.state_index[s] for s in state_ids if s in mem.state_index]

    def in_states() -> tuple[src.Votes, dict[int, float]]:
        inside = np.isin(a["state"], states) if states else np.zeros(n, bool)
        return (src.shares(labels, good & inside),
                _failed_share(labels, failing, visible & inside))

    state_votes, state_failed = _once(memo, ("states", *sorted(states)), in_states)
    skill, skills_of = _skill_votes(mem, probe, state_ids, task_sim)
    position = _once(memo, ("position", len(hist)),
                     lambda: src.shares(labels, good & (a["position"] == len(hist))))
    prior = _once(memo, "prior", lambda: src.shares(labels, good))
    vis_u = u.local(visible)
    risk = src.risk_votes(s_new, lab, u.local(failing), vis_u, 20)
    risk_win = src.risk_votes(u.win, lab, u.local(failing), vis_u, 20)
    fail_nn, fail_unusual = src.unusual_failures(
        s_new, a["new"] if u.full else ann.Rows(a["new"], u.idx), lab,
        u.local(failing) & vis_u, ok_u, 5, 0.6)
    err_nn = src.failure_neighbours(s_new, lab, u.local(a["err"]), vis_u, 3, 0.6)
    guard, guards_of = _guard_votes(mem, state_ids)
    seq_failed = _once(memo, ("sequence", h1, h2), lambda: _failed_share(
        labels, failing, visible & (a["prev1"] == h1) & (a["prev2"] == h2)))

    nxt = (knn_new, knn_win, knn_task, knn_hist, {top_new: 1.0}, {top_task: 1.0}, same_task,
           m1, m2, mc, state_votes, skill, position, prior, risk)
    cands: dict[int, float] = {}
    for votes in (*nxt[:12], fail_nn, err_nn, guard):  # no candidate from popularity alone ...
        for c, v in votes.items():
            if c >= 0:
                cands[c] = max(cands.get(c, 0.0), v)
    for c, v in sorted(prior.items(), key=lambda kv: -kv[1])[:5]:  # ... but the top few
        cands.setdefault(c, v * 0.1)
    chosen = sorted(cands, key=lambda c: (-cands[c], c))[:max_candidates]
    chosen += [c for c in dict.fromkeys(include) if c not in set(chosen)]
    u = ann.with_steps_of(u, mem, probe.new, probe.win, task_sim, good, chosen, include)
    succ_near = src.nearest_success(u.new, u.local(labels), u.local(good), chosen)
    rk = [src.ranks(v) for v in (knn_new, knn_task, m1, m2)]
    said = (words(_arguments_text(probe.history_text)), words(probe.task_text))
    planned = plan_actions(mem, probe.history_raw, chosen, probe.embed)
    nx = np.zeros((len(chosen), len(NEXT_FEATURES)), dtype=np.float64)
    rx = np.zeros((len(chosen), len(RISK_FEATURES)), dtype=np.float64)
    for r, c in enumerate(chosen):
        row = [v.get(c, 0.0) for v in nxt]
        row += [knn_new.get(c, 0.0) * max(sim_new, 0.0), knn_task.get(c, 0.0) * max(sim_task, 0.0)]
        row += [v.get(c, 0.0) for v in rk]
        row += [src.mentioned(_literal_words(mem.actions[c]), w) for w in said]
        row.append(float(c == h1))
        row.append(planned[c][0] if c in planned else 0.0)
        row.append(knn_said.get(c, 0.0))
        nx[r] = row
        f, ok_near = fail_nn.get(c, 0.0), succ_near.get(c, 0.0)
        rx[r] = [risk.get(c, 0.0), f, guard.get(c, 0.0), state_failed.get(c, 0.0),
                 fail_unusual.get(c, 0.0), ok_near, f - ok_near if f else 0.0,
                 err_nn.get(c, 0.0), risk_win.get(c, 0.0), seq_failed.get(c, 0.0)]
    if u.full:
        sims = u.new
    else:  # steps outside the universe are farther than all in it: below any of them
        sims = np.full(n, -1.0, np.float32)
        sims[u.idx] = u.new
    return Rows(candidates=chosen, next_x=nx, risk_x=rx, neighbours=near_ok, sims=sims,
                task_sims=task_sim if probe.task is not None and task_sim.size else None,
                skills_of=skills_of, guards_of=guards_of,
                planned={c: acts for c, (_, acts) in planned.items() if acts})


# A value a text action names in quotes inside a longer text (`the item has options 'mn4' and
# '1 fl oz'`): the quote opens and closes at a word boundary, so `men's` opens nothing.
_QUOTED = re.compile(r"(?<![\w'\"])(['\"])(?=\S)([^'\"\n]{1,300}?)(?<=\S)\1(?![\w'\"])")


def latest_plan(history: Sequence[str]) -> tuple[list[str], list[str]]:
    """The values the episode's latest plan names (as written), and the actions taken since
    it, from the previous actions as written (oldest first). A plan is a text action (`think[...]`,
    `search[...]`) whose argument quotes values inside a longer text; an argument that is
    itself one quoted value (`search["Nick Park"]`) names no plan."""
    for j in range(len(history) - 1, -1, -1):
        call = _call_argument(history[j])
        if call is None:
            continue
        arg = call[1]
        found = [m.group(2).strip() for m in _QUOTED.finditer(arg)]
        if found and not (len(found) == 1 and len(found[0]) >= len(arg.strip()) - 2):
            return list(dict.fromkeys(found)), list(history[j + 1:])
    return [], []


def _call_argument(action: str) -> tuple[str, str] | None:
    """(name, argument) of a text call `name[argument]`; None for anything else."""
    if not TEXT_CALL.match(action):
        return None
    call = text_action(action)
    return call.name, next(iter(call.arguments.values()), "")


def _plan_taken(history: Sequence[str]) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The latest plan's values (lower case -> as written, `latest_plan`) and, of those the
    actions since it took, which action names took each."""
    written_values, since = latest_plan(history)
    as_said = {v.lower(): v for v in reversed(written_values)}
    taken: dict[str, set[str]] = {}
    for a in since:
        call = _call_argument(a)
        if call is not None and call[1].strip().lower() in as_said:
            taken.setdefault(call[1].strip().lower(), set()).add(call[0])
    return as_said, taken


def as_written(mem: StepMemory, i: int) -> str:
    """Stored step `i`'s action as its agent wrote it (`written`)."""
    return written(mem.raw[i], mem.keys[i])


NO_PLAN, PLANNED_NONE_TAKEN, PLAN_PENDING, PLAN_DONE = 0, 1, 2, 3


def plan_status(history: Sequence[str]) -> int:
    """Where the episode stands in its latest plan (see `plan_actions`): no plan, planned but
    no value taken yet, some values taken and others left, every value taken."""
    values, taken = _plan_taken(history)
    if not values:
        return NO_PLAN
    if not taken:
        return PLANNED_NONE_TAKEN
    return PLAN_PENDING if len(taken) < len(values) else PLAN_DONE


def step_plan_status(mem: StepMemory, steps: np.ndarray) -> np.ndarray:
    """`plan_status` of stored steps (each from its episode's earlier actions as written),
    computed once per step (an episode's steps never change once stored) and kept in
    `StepMemory.plan_status` (-1: not computed yet)."""
    known = mem.plan_status
    if len(known) < len(mem):
        known = mem.plan_status = np.concatenate(
            [known, np.full(len(mem) - len(known), -1, np.int8)])
    for i in steps[known[steps] < 0].tolist():
        known[i] = plan_status([as_written(mem, j) for j in sorted(
            mem.earlier_in_episode(i), key=mem.position.__getitem__)])
    return known[steps]


def _at_point(mem: StepMemory, steps: np.ndarray, sims: np.ndarray, pool: np.ndarray,
              status: int, k: int, chunk: int = 64) -> np.ndarray:
    """The steps of `pool` at plan status `status` that `top_k(sims, ..., k)` can pick:
    statuses are read nearest first (`step_plan_status`, each step once ever) until k steps
    match and the rest are farther than the k-th (ties included), not for the whole pool."""
    out = np.zeros(len(sims), dtype=bool)
    idx = np.flatnonzero(pool)
    order = idx[np.lexsort((idx, -sims[idx]))]
    found, kth = 0, None
    for p in range(0, len(order), chunk):
        part = order[p:p + chunk]
        if kth is not None and sims[part[0]] < kth:
            break
        hits = part[step_plan_status(mem, steps[part]) == status]
        out[hits] = True
        if kth is None and found + len(hits) >= k:
            kth = sims[hits[k - found - 1]]
        found += len(hits)
    return out


def plan_votes(mem: StepMemory, history: Sequence[str], candidates: Sequence[int],
               embed: Embed | None = None) -> dict[int, float]:
    """The `plan` feature of each candidate (see `plan_actions`)."""
    return {c: v for c, (v, _) in plan_actions(mem, history, candidates, embed).items()}


def plan_actions(mem: StepMemory, history: Sequence[str], candidates: Sequence[int],
                 embed: Embed | None = None) -> dict[int, tuple[float, list[str]]]:
    """An agent that wrote down the values it chooses among (`the item has options 'mn4' and
    '1 fl oz'`) takes one of each kind. A candidate that takes a value of the latest plan no
    action has taken since (as the actions that took its other values did: `click[mn4]` ->
    `click[1 fl oz]`) gets +1 when one such value is of a kind no taken value is (cosine
    below SAME_KIND to each, with `embed`; every value counts as its own kind without it),
    -1 when they are all of the kinds taken (another size after a size: unlikely). Once
    every value is taken, -1 for the candidates that took them (the plan is done: something
    else comes next). Before any value is taken
    nothing: which action takes them shows only then. With each vote, the concrete actions
    that take those values, most unlike first."""
    as_said, taken = _plan_taken(history)  # taken: value -> the names that took it
    values = list(as_said)
    if not values:
        return {}
    if not taken:
        return {}  # which action takes the values shows once one is taken
    names = set().union(*taken.values())
    want = set(candidates)
    pending = [v for v in values if v not in taken]
    novelty = dict.fromkeys(pending, 1.0)
    if pending and embed is not None:
        vecs = np.asarray(embed([*pending, *taken]), dtype=np.float32)
        sims = vecs[:len(pending)] @ vecs[len(pending):].T
        novelty = {v: 1.0 if sims[j].max() < SAME_KIND else -1.0 for j, v in enumerate(pending)}
    out: dict[int, tuple[float, list[str]]] = {}
    for v in sorted(pending, key=lambda v: -novelty[v]):
        for n in sorted(names):
            act = f"{n}[{as_said[v]}]"
            c = mem.action_index.get(normalise_action(mem, act), -1)
            if c in want:
                score, acts = out.get(c, (novelty[v], []))
                out[c] = (score, [*acts, act])
    if not pending:
        for v in values:
            for n in sorted(taken[v]):
                c = mem.action_index.get(normalise_action(mem, f"{n}[{v}]"), -1)
                if c in want:
                    out.setdefault(c, (-1.0, []))
    return out


WORD = re.compile(r"[a-z0-9]+")
_PLACEHOLDER = re.compile(r"<[^<>]*>")
_ACTION_NAME = re.compile(r"^[\w\-. ]{0,40}?[\[(:]")  # `think[`, `lookup(`, `Action:`


def words(text: str) -> frozenset[str]:
    """The lower-case words of a text (what action matching compares)."""
    return frozenset(WORD.findall(text.lower()))


@lru_cache(maxsize=65536)
def _literal_words(tmpl: str) -> frozenset[str]:
    """The words a template spells out (`click[buy now]` -> click, buy, now; placeholders
    such as `<item>` are not words)."""
    return words(_PLACEHOLDER.sub(" ", tmpl))


def _arguments_text(action: str) -> str:
    """What an action says beyond its name: `think[I should click large]` -> the thought,
    `lookup(order_id=1)` -> its arguments (the name itself would match its own template)."""
    s = action.strip()
    m = _ACTION_NAME.match(s)
    return s[m.end():] if m else s


def _once(memo: dict[Any, Any] | None, key: Any, compute: Callable[[], Any]) -> Any:
    """`compute()`, kept in `memo` (the step memory's, cleared by every write) when given.
    What it keeps is only read afterwards."""
    if memo is None:
        return compute()
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = compute()
    return hit


def _universe(mem: StepMemory, probe: Probe, task_sim: np.ndarray, good: np.ndarray,
              failing: np.ndarray, needs: Callable[[], list[ann.Need]]) -> ann.Universe:
    """Every step (exact) on a small store; else the ANN neighbourhood that covers the masked
    nearest-k searches `needs` lists (the ones the neighbour features below take)."""
    a = mem.arrays
    if not mem.approximate:
        return ann.exact_universe(a, probe.new, probe.win, task_sim)
    return ann.approximate_universe(mem, probe.new, probe.win, task_sim, good, failing,
                                    needs(), K, SAME_TASK)


def _skill_votes(mem: StepMemory, probe: Probe, state_ids: set[str], task_sim: np.ndarray,
                 ) -> tuple[dict[int, float], dict[int, list[str]]]:
    """Each skill applying in these states, and each plan for the nearest tasks, votes its
    next action (aligned with the history) with its utility; a skill mined from the excluded
    episode alone does not vote."""
    near_tasks: set[str] = set()
    if task_sim.size:
        for t in np.argsort(-task_sim)[:3].tolist():
            if task_sim[t] > 0.5:
                near_tasks.add(_task_node_id(mem.tasks[t]))
    own = mem.episodes[probe.exclude_episode] if probe.exclude_episode != NO else None
    # arrays per state and task, built once per write (derived.DerivedLayer.skill_votes)
    return mem.derived.skill_votes(state_ids, near_tasks, probe.history_templates, own)


@lru_cache(maxsize=8192)
def _task_node_id(text: str) -> str:
    from expgraph.models import TaskNode

    return TaskNode(text=text).id


def _guard_votes(mem: StepMemory, state_ids: set[str],
                 ) -> tuple[dict[int, float], dict[int, list[str]]]:
    out: dict[int, float] = {}
    behind: dict[int, list[str]] = {}
    for gid, sid, bans, severity in mem.guardrails_in(state_ids):
        if sid in state_ids:
            for c in bans:
                out[c] = max(out.get(c, 0.0), severity)
                behind.setdefault(c, []).append(gid)
    return out, behind


def _failed_share(labels: np.ndarray, failing: np.ndarray, pool: np.ndarray,
                  prior: float = 1.0) -> dict[int, float]:
    sel = labels[pool]
    if sel.size == 0:
        return {}
    tot = np.bincount(sel)
    bad = np.bincount(labels[pool & failing], minlength=tot.size)
    return {int(c): float(bad[c]) / (float(tot[c]) + prior) for c in np.flatnonzero(tot)}
