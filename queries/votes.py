"""Concrete evidence for the caller's candidate actions (`suggest(..., candidates=[...])`).

The nearest successful steps vote for the given actions their own actions match, up to the
task analogy (`queries.analogy`); where none is given, for the ones most like it. Errored
steps vote against what they took, at the same point of the procedure; what this task's
failed runs tried without progress is no precedent from another task. `weigh` gathers it all
for `suggest`'s ranking.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any

import numpy as np

from expgraph.actions import TEXT_VERB_SLOTS
from expgraph.memory.features import SAME_TASK, WORD, Probe, Rows, normalise_action, words
from expgraph.memory.index import NO, StepMemory
from expgraph.memory.sources import top_k
from expgraph.templates import template_name
from queries.analogy import FILLER, TASK_WORD, Analogy
from queries.corpus import embed_texts

TEXT_SLOTS = {*TEXT_VERB_SLOTS.values(), "arg"}
CONCRETE_NEIGHBOURS = 10  # nearest successful (and errored) steps voting for given actions
SHARPNESS = 0.01  # similarity scale of the concrete votes' weights
HISTORY_BONUS = 0.01  # added per previous action a voting step shares with the question
SAME_TASK_BONUS = 0.03  # added for a step of the very same task (features.SAME_TASK)
NEAR_TEMPERATURE = 0.05  # how sharply a vote goes to the given action most like the one taken
NEAR_POWER = 4  # ... and how much of it: (its cosine) ** NEAR_POWER
EXACT_MARGIN = 0.1  # a voter that took exactly a given action, on something the state shows,
# weighs as a step this much nearer (direct evidence, against a look-alike's guess)
ERRORED_SIMILARITY = 0.6  # an errored step this near that took exactly a candidate demotes it
PRECEDENT_RUNS = 2  # runs of the very same task before only they vote (`_precedents`)
ROLE_NEIGHBOURS = 4 * CONCRETE_NEIGHBOURS  # this task's successes read for their roles (`_roles`)
ARGUMENT_FILLER = frozenset({"on", "to", "of", "with", "from", "at"})  # not an object's words


@dataclass
class Evidence:
    """What the nearest steps say of each given action (`weigh`): `votes`, their shares of the
    successes' weight; `failed`, the errored steps' weight against it; `backed`, the
    similarity of the nearest success that took it exactly; `answered`, the given actions
    (indices) that answered another of this task's instructions; `kinds`, the templates the
    voting successes took. `texts` are the given actions once each, `tmpls` their templates."""

    texts: list[str]
    tmpls: list[str]
    votes: dict[str, float]
    failed: dict[str, float]
    backed: dict[str, float]
    answered: set[int]
    kinds: set[int]


def weigh(mem: StepMemory, rows: Rows, probe: Probe, embedder: Any, state: str,
          task: str | None, history: Sequence[str], candidates: list[str]) -> Evidence:
    """The concrete evidence for the caller's actions (`suggest`'s `_rank_given` ranks by it):
    what the nearest successful steps (by message and task, closer for the same task and the
    same previous actions) did, as votes (`_concrete_votes`); the errored steps that took
    exactly a candidate at the same point of the procedure (`_point`) against it, on the same
    similarity scale (`_failure_weights`), unless a successful step at least as near took
    it; what this task's failed runs tried there after their last gain in reward (`_tried`)
    is no precedent from another task. The voters are this task's (`_precedents`) and, from
    other tasks, the steps that served the very instruction this episode's next action of
    their name serves (`_aligned`: "find the shortest-lived" answers the second focus of
    "the longest-lived, then the shortest-lived"), counted as steps of this task; those that
    served another of this task's instructions mark their objects as taken by another role
    (`_roles`)."""
    a = mem.arrays
    base, same_task = _task_sims(mem, rows)
    texts = list(dict.fromkeys(candidates))
    tmpls = [normalise_action(mem, t) for t in texts]
    done = {words(h) for h in history}
    given = Given(texts=texts, names=[template_name(t) for t in tmpls], embedder=embedder,
                  repeats=[words(t) in done for t in texts], history=list(history),
                  taken=[template_name(normalise_action(mem, x)) for x in history],
                  task_words=words(task or ""), seen=words(state))
    ok = a["ok"] & ~a["err"]
    mine = _precedents(ok, same_task, a["episode"])
    aligned, others = _aligned(mem, task, given, ok & ~same_task)
    as_this = same_task  # the steps that count as this task's (SAME_TASK_BONUS)
    if aligned or len(others):
        # a step that served one of this task's instructions in its own task is a step of
        # this task there: its task similarity is that of the same task
        served = np.fromiter(aligned | set(others.tolist()), dtype=int)
        base, as_this = base.copy(), same_task.copy()
        base[served], as_this[served] = 0.5 * (rows.sims[served] + 1.0), True
        mine = mine.copy()
        mine[list(aligned)] = True
    h = [*probe.history[-2:]][::-1] + [NO, NO]  # the previous action, the one before
    sims = (base + HISTORY_BONUS * ((a["prev1"] == h[0]).astype(np.float32)
                                    + (a["prev2"] == h[1]).astype(np.float32))
            + SAME_TASK_BONUS * as_this.astype(np.float32))
    others = others[np.argsort(-sims[others], kind="stable")[:ROLE_NEIGHBOURS]]
    good = top_k(sims, mine, CONCRETE_NEIGHBOURS)
    own = {i: _same(mem, i, task, given) for i in good.tolist()}  # matched once, read twice
    errored = top_k(sims, a["err"], 2 * CONCRETE_NEIGHBOURS)
    errored = errored[base[errored] >= ERRORED_SIMILARITY]
    errored = errored[[_point(mem, i, given) == 0 for i in errored.tolist()]]
    wrong = {i: _same(mem, i, task, given)[0] for i in errored.tolist()}  # once per step
    roles = _roles(mem, top_k(sims, ok & same_task, ROLE_NEIGHBOURS), task, given, own)
    answered = {j for i in others.tolist() for j in _same(mem, i, task, given)[0]}
    roles |= answered
    tried = _tried(mem, top_k(sims, same_task & ~a["ok"], ROLE_NEIGHBOURS), task, given,
                   good, as_this)
    votes = _concrete_votes(mem, good, sims, task, given, own,
                            _refuted(errored, same_task, wrong) | roles | tried, aligned,
                            tried, as_this)
    backed = _exact_matches(good, sims, given, {i: m[0] for i, m in own.items()})
    failed = _failure_weights(good, errored, sims, given, backed, wrong)
    return Evidence(texts=texts, tmpls=tmpls, votes=votes, failed=failed, backed=backed,
                    answered=answered, kinds=set(a["label"][good].tolist()))


@dataclass
class Given:
    """The caller's candidate actions: their texts, action names, and whether each repeats
    an action of this episode's history (the actions taken so far). Their words as each
    analogy reads them are split once per question (`matching`, `done`)."""

    texts: list[str]
    names: list[str]
    embedder: Any
    repeats: list[bool]
    history: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)  # the history's action names
    task_words: frozenset[str] = frozenset()  # the words of the question's task
    seen: frozenset[str] = frozenset()  # the words of the question's state
    analogies: dict[int, Analogy] = field(default_factory=dict)
    _read: dict[frozenset[str], list[frozenset[str]]] = field(default_factory=dict)
    _texts: dict[frozenset[str], dict[frozenset[str], list[int]]] = field(default_factory=dict)
    _done: dict[frozenset[str], set[frozenset[str]]] = field(default_factory=dict)

    def read(self, an: Analogy) -> list[frozenset[str]]:
        """Each given action's words as `an` reads ours."""
        hit = self._read.get(an.ours)
        if hit is None:
            hit = self._read[an.ours] = [frozenset(an.given(t)) for t in self.texts]
        return hit

    def matching(self, an: Analogy, action: frozenset[str]) -> list[int]:
        """The given actions whose words (as `an` reads ours) are exactly `action`'s."""
        by = self._texts.get(an.ours)
        if by is None:
            by = {}
            for j, ws in enumerate(self.read(an)):
                by.setdefault(ws, []).append(j)
            self._texts[an.ours] = by
        return by.get(action, [])

    def done(self, an: Analogy) -> set[frozenset[str]]:
        """The history's actions as `an` reads ours."""
        hit = self._done.get(an.ours)
        if hit is None:
            hit = self._done[an.ours] = {frozenset(an.given(h)) for h in self.history}
        return hit


def _task_sims(mem: StepMemory, rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    """Every step's similarity to the question (newest message and task together; the message
    alone without a task) and whether it was taken in the very same task (`SAME_TASK`)."""
    if rows.task_sims is None:
        return rows.sims, np.zeros(len(rows.sims), dtype=bool)
    task = rows.task_sims[mem.arrays["task"]]  # computed once, by candidate_rows
    return 0.5 * (rows.sims + task), task >= SAME_TASK


def _same(mem: StepMemory, i: int, task: str | None, given: Given,
          ) -> tuple[list[int], Analogy, bool]:
    """The given actions that are step `i`'s action up to the analogy (`analogy`), new
    or repeated in the episode as the step's own was; and whether it was repeated."""
    an = analogy(mem, i, task, given)
    done = frozenset(an.past(concrete(mem, i)))
    again = _repeated(mem, i)
    return [j for j in given.matching(an, done) if given.repeats[j] == again], an, again


def analogy(mem: StepMemory, i: int, task: str | None, given: Given) -> Analogy:
    """Step `i` seen from the question: the task analogy (`Analogy.of`), then the renaming of
    objects under which its episode's earlier actions best coincide with this episode's
    actions so far (`Analogy.cast`): the wire its episode used on the battery is the one this
    episode used, so `connect black wire terminal 2 ...` reads `connect red wire terminal 2
    ...`. Once per step and question (`given.analogies`)."""
    hit = given.analogies.get(i)
    if hit is None:
        hit = Analogy.of(mem.tasks[mem.arrays["task"][i]], task)
        if given.history:
            hit = hit.cast([concrete(mem, j) for j in mem.earlier_in_episode(i)], given.history)
        given.analogies[i] = hit
    return hit


def _point(mem: StepMemory, i: int, given: Given) -> int:
    """Where step `i` stands against the question in the procedure: how many actions of its
    own action's name its episode had taken before it, minus how many this episode has taken
    (`given.taken`): 0 at the same point, below 0 earlier. Choosing the first animal to focus
    on wrongly says nothing of the second."""
    return _ordinal(mem, i) - given.taken.count(template_name(mem.actions[mem.label[i]]))


def _ordinal(mem: StepMemory, i: int) -> int:
    """How many actions of step `i`'s own action name its episode took before it. Once per
    step and memory (`mem.memo`): every question reads it for its voters."""
    memo = mem.memo(mem.arrays).setdefault("ordinal", {})
    hit = memo.get(i)
    if hit is None:
        name = template_name(mem.actions[mem.label[i]])
        hit = memo[i] = sum(template_name(mem.actions[mem.label[j]]) == name
                            for j in mem.earlier_in_episode(i))
    return hit


SENTENCE = re.compile(r"[^.!?;]+")


@lru_cache(maxsize=4096)
def instructions(task: str, name: str) -> tuple[tuple[str, ...], ...]:
    """The sentences of a task that ask for an action named `name`, each from that word on
    (filler dropped): "First, focus on the animal with the longest life span. Then, focus
    on the animal with the shortest life span." has two for `focus`, the first
    `focus on animal with longest life span`. The k-th action of that name in an episode
    of the task serves the k-th of them."""
    out: list[tuple[str, ...]] = []
    for sentence in SENTENCE.findall(task.lower()):
        toks = [t for t in WORD.findall(sentence) if t not in FILLER]
        if name in toks:
            out.append(tuple(toks[toks.index(name):]))
    return tuple(out)


def _served(mem: StepMemory, i: int) -> tuple[str, ...] | None:
    """The instruction of its own task that step `i` served (`instructions`), if any."""
    asked = instructions(mem.tasks[mem.task[i]], template_name(mem.actions[mem.label[i]]))
    k = _ordinal(mem, i)
    return asked[k] if k < len(asked) else None


@lru_cache(maxsize=65536)
def _flat(text: str) -> str:
    """A text's words, filler dropped, joined by spaces (where an instruction is looked for)."""
    return " ".join(w for w in WORD.findall(text.lower()) if w not in FILLER)


def _aligned(mem: StepMemory, task: str | None, given: Given, ok: np.ndarray,
             ) -> tuple[set[int], np.ndarray]:
    """Successful steps of other tasks (`ok`) that served the very instruction this episode's
    next action of their name serves (the shortest-lived animal's focus of "find the
    shortest-lived" is the second focus of "the longest-lived, then the shortest-lived"),
    and those that served another instruction of this task for that name (an animal found
    shortest-lived plays no part in the first focus). From the tasks whose text holds the
    instruction; once per memory and question's task and point (`mem.memo`)."""
    if not task:
        return set(), np.zeros(0, dtype=int)
    names = sorted(set(given.names))
    point = tuple(given.taken.count(n) for n in names)
    key = ("aligned", task, tuple(names), point)
    memo = mem.memo(mem.arrays)
    hit = memo.get(key)
    if hit is None:
        pending, other = {}, {}
        for n, k in zip(names, point, strict=True):
            asked = instructions(task, n)
            for m, text in enumerate(asked):
                (pending if m == k else other)[text] = n
        same, elsewhere = [], []
        wanted = {" ".join(t) for t in [*pending, *other]}
        for t, text in enumerate(mem.tasks if wanted else ()):
            flat = _flat(text)
            if not any(w in flat for w in wanted):
                continue
            for i in mem.task_steps[t]:
                served = _served(mem, i)
                if served in pending:
                    same.append(i)
                elif served in other:
                    elsewhere.append(i)
        hit = memo[key] = (np.asarray(same, dtype=int), np.asarray(elsewhere, dtype=int))
    same, elsewhere = hit
    same, elsewhere = same[ok[same]], elsewhere[ok[elsewhere]]
    return set(same.tolist()), elsewhere


def _exact_matches(near: np.ndarray, sims: np.ndarray, given: Given,
                   same: dict[int, list[int]]) -> dict[str, float]:
    """For each given action some `near` step took exactly (`same`: each near step's own given
    actions, `_same`): the nearest such step's similarity."""
    out: dict[str, float] = {}
    for i in near.tolist():
        for j in same[i]:
            t = given.texts[j]
            out[t] = max(out.get(t, 0.0), float(sims[i]))
    return out


def _precedents(ok: np.ndarray, same_task: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """The successful steps that may vote: those of the very same task (`SAME_TASK`) once it
    has been done in PRECEDENT_RUNS episodes, every one otherwise. A neighbouring task's step
    (the shortest-lived animal of "find the shortest-lived", in the same room) is no precedent
    for this task's step (the longest-lived first) when this task has been done before; but
    one run of this task is one layout (its rooms, its wires), and its steps alone would
    outvote the rest of experience wherever this layout differs."""
    mine = ok & same_task
    return mine if len(np.unique(episode[mine])) >= PRECEDENT_RUNS else ok


def _roles(mem: StepMemory, mine: np.ndarray, task: str | None, given: Given,
           own: dict[int, tuple[list[int], Analogy, bool]]) -> set[int]:
    """The given actions that a success of this very task (`mine`: the nearest ones) took
    exactly at another point of the procedure (`_point`): that object plays another role in
    this task (the second animal, not the first), so no look-alike vote goes to it here.
    `own`: `_same` of the steps already matched (the voters)."""
    return {j for i in mine.tolist() if _point(mem, i, given) != 0
            for j in (own[i] if i in own else _same(mem, i, task, given))[0]}


def _tried(mem: StepMemory, failed: np.ndarray, task: str | None, given: Given,
           voters: np.ndarray, this_task: np.ndarray) -> set[int]:
    """The given actions that a failed run of this very task (`failed`: its nearest steps)
    took at the same point of the procedure after its last gain in reward
    (`StepMemory.stalled`): tried there without progress, so another task's run that took
    one is read as a guess to vary, not a precedent to copy (`_concrete_votes`). As the run
    wrote them, not renamed after this episode's objects (`Analogy.cast`): what it poured
    is what was tried, not what this episode poured in its place; up to the words in which
    the `voters` of other tasks differ (`_incidental`: the bowl of one room is the jug of
    another)."""
    stuck = [i for i in failed.tolist() if mem.stalled(i) and _point(mem, i, given) == 0]
    if not stuck:
        return set()
    loose = _incidental(mem, voters, task, given, this_task)
    out: set[int] = set()
    for i in stuck:
        an, done = _as_written(mem, i, task, given)
        name = template_name(mem.actions[mem.label[i]])
        allowed = loose.get(name, frozenset())
        again = _repeated(mem, i)
        out.update(j for j, ws in enumerate(given.read(an))
                   if given.names[j] == name and given.repeats[j] == again
                   and ws ^ done <= allowed)
    return out


def _as_written(mem: StepMemory, i: int, task: str | None, given: Given,
                ) -> tuple[Analogy, frozenset[str]]:
    """Step `i`'s analogy without the renaming of objects (`Analogy.cast`), and its action's
    words as that reads them: the action as its run wrote it, up to the task analogy."""
    an = replace(analogy(mem, i, task, given), roles=())
    return an, frozenset(an.past(concrete(mem, i)))


def _incidental(mem: StepMemory, near: np.ndarray, task: str | None, given: Given,
                this_task: np.ndarray) -> dict[str, frozenset[str]]:
    """Per action name, the words in which the actions of the `near` successes of other tasks
    differ (the words not all of them have): what changes from one run to another of the same
    step (a room's containers) rather than what the step chooses (the paint every one of
    them poured)."""
    by: dict[str, list[frozenset[str]]] = {}
    for i in near.tolist():
        if not this_task[i]:
            by.setdefault(template_name(mem.actions[mem.label[i]]), []).append(
                _as_written(mem, i, task, given)[1])
    return {n: frozenset().union(*ws) - frozenset.intersection(*ws) for n, ws in by.items()}


def _refuted(errored: np.ndarray, same_task: np.ndarray, wrong: dict[int, list[int]],
             ) -> set[int]:
    """The given actions an errored step of the very same task took exactly at the same point
    of the procedure (`errored` holds only those at the same point; `wrong`: each one's own
    given actions, `_same`): a direct counterexample, so no look-alike vote lands on them
    (a guess by resemblance yields to what was seen failing); a success that took one
    exactly still votes for it."""
    return {j for i in errored.tolist() if same_task[i] for j in wrong[i]}


def _failure_weights(good: np.ndarray, errored: np.ndarray, sims: np.ndarray, given: Given,
                     backed: dict[str, float], same: dict[int, list[int]],
                     ) -> dict[str, float]:
    """Errored steps as votes against the given actions they took exactly (`_same`), in the
    successes' own scale: an errored step weighs exp(-(nearest success's similarity - its
    own) / SHARPNESS) over the successes' total weight, so it counts as much as a success
    exactly as near would, far less when it comes from a less similar situation (another
    state, another task), and it is dropped where a success at least as near took the same
    action. Capped at 1 (the successes' whole vote). `same`: each errored step's own given
    actions (`_same`)."""
    if not len(errored):
        return {}
    s_err = sims[errored].astype(np.float64)
    if len(good):
        s_ok = sims[good].astype(np.float64)
        top, total = float(s_ok.max()), float(np.exp((s_ok - s_ok.max()) / SHARPNESS).sum())
    else:
        top, total = float(s_err.max()), 1.0
    w = np.exp(np.minimum(s_err - top, 1.0) / SHARPNESS) / total
    nearest = _exact_matches(errored, sims, given, same)
    out: dict[str, float] = {}
    for i, wi in zip(errored.tolist(), w.tolist(), strict=True):
        for j in same[i]:
            t = given.texts[j]
            if nearest[t] > backed.get(t, -np.inf):
                out[t] = min(out.get(t, 0.0) + wi, 1.0)
    return out


def _concrete_votes(mem: StepMemory, near: np.ndarray, sims: np.ndarray, task: str | None,
                    given: Given, own: dict[int, tuple[list[int], Analogy, bool]],
                    refuted: set[int] = frozenset(),  # type: ignore[assignment]
                    aligned: set[int] = frozenset(),  # type: ignore[assignment]
                    tried: set[int] = frozenset(),  # type: ignore[assignment]
                    this_task: np.ndarray | None = None,
                    ) -> dict[str, float]:
    """What the `near` steps did, as votes for the given actions, shares of their total
    weight: each step weighs exp(-(best similarity - its own) / SHARPNESS) (the nearest
    count; a step 0.05 further barely; one whose own action is given and names something
    the state shows counts as EXACT_MARGIN nearer: `_grounded`) and gives it to the given
    actions that are its own (`_same`, those keeping its word order first: `_in_order`);
    where none is, to those of the same action name (and as new or repeated)
    most like it: a softmax of their embedding cosines (temperature NEAR_TEMPERATURE),
    scaled by the best cosine to the power NEAR_POWER (`_look_alikes`). A step whose own
    action this episode has already taken neither votes nor weighs (`_behind`), nor does a
    step from another point of the procedure (`_point`: the first focus's animal is no guide
    to the second, nor the second's to the first), except an exact match from an earlier
    point (a run that took a longer route to the same door), and a step of another task
    that served the instruction at hand (`aligned`, `_aligned`). A step of another task
    (not `this_task`'s) whose own actions this task's failed runs took here without
    progress (`tried`, `_tried`) votes as if they were not given, for the given actions that
    change its action least (`_fewest_changes`): this task's own failure outweighs another
    task's precedent. `own`: `_same` of each near step; `refuted`: given actions no
    look-alike vote goes to (`_refuted`, `_roles`, `tried`)."""
    out: dict[str, float] = {}
    keep = []
    for i in near.tolist():
        if not _behind(mem, i, task, given):
            point = 0 if i in aligned else _point(mem, i, given)
            if point == 0 or (point < 0 and own[i][0]):
                keep.append(i)
    near = np.asarray(keep, dtype=int)
    if not len(near):
        return out
    copies = {i: bool(own[i][0]) and not (this_task is not None and not this_task[i]
                                          and set(own[i][0]) <= tried)
              for i in near.tolist()}
    s = sims[near].astype(np.float64)
    s += EXACT_MARGIN * np.asarray([bool(own[i][0]) and _grounded(mem, i, given)
                                    for i in near.tolist()], dtype=np.float64)
    w = np.exp((s - s.max()) / SHARPNESS)
    w /= w.sum()
    for i, wi in zip(near.tolist(), w.tolist(), strict=True):
        same, an, again = own[i]
        if copies[i]:
            same = _in_order(an.past(concrete(mem, i)), same, given, an)
            for j in same:
                out[given.texts[j]] = out.get(given.texts[j], 0.0) + wi / len(same)
            continue
        for j, pj in _look_alikes(mem, i, given, an, again, refuted, vary=bool(same)):
            out[given.texts[j]] = out.get(given.texts[j], 0.0) + wi * pj
    return out


def _grounded(mem: StepMemory, i: int, given: Given) -> bool:
    """Whether step `i`'s action names something the question's state shows (a word of it
    besides the action's name is in the state)."""
    return bool(_object_words(words(concrete(mem, i)), template_name(mem.actions[mem.label[i]]))
                & given.seen)


def _object_words(said: Iterable[str], name: str) -> set[str]:
    """The words of an action that name its objects: not its name's, not filler."""
    return set(said) - words(name) - FILLER - ARGUMENT_FILLER


def _in_order(past: tuple[str, ...], same: list[int], given: Given, an: Analogy) -> list[int]:
    """Of the given actions with exactly the words of a past action (`same`), those that
    also keep most of its pairs of neighbouring words (`_pairs`): `pour A into B` is not
    `pour B into A`, and `connect blue bulb to red wire` is not `connect red bulb to blue
    wire` (while `connect red wire to blue bulb` is)."""
    if len(same) < 2:
        return same
    theirs = _pairs(past)
    agree = [sum((theirs & _pairs(an.given(given.texts[j]))).values()) for j in same]
    best = max(agree)
    return [j for j, n in zip(same, agree, strict=True) if n == best]


def _pairs(seq: Sequence[str]) -> Counter[tuple[str, str]]:
    """The pairs of neighbouring words of a sequence."""
    return Counter(zip(seq, seq[1:], strict=False))


def _look_alikes(mem: StepMemory, i: int, given: Given, an: Analogy, again: bool,
                 refuted: set[int], vary: bool = False) -> list[tuple[int, float]]:
    """The given actions a step whose own action is not given votes for, with their shares:
    those of its action name (new or repeated as its own was; not `refuted`) most like it, a
    softmax of their embedding cosines (temperature NEAR_TEMPERATURE) scaled by the best
    cosine to the power NEAR_POWER (a far look-alike counts less). Where its action named
    the task's own object (words of this task's text, or the task analogy's placeholder:
    `focus on electric motor` for "turn on the electric motor"), only given actions naming
    that object are its look-alikes, and where none does it votes for none: the ground is no
    stand-in for the motor. Given actions that name no object at all (a tool agent's bare
    tool names) are exempt."""
    past = an.past(concrete(mem, i))
    name = template_name(mem.actions[mem.label[i]])
    kin = [j for j, n in enumerate(given.names)
           if n == name and given.repeats[j] == again and j not in refuted]
    if not kin:
        return []
    needed = {w for w in _object_words(past, name) if w == TASK_WORD or w in given.task_words}
    objects = [_object_words(an.given(given.texts[j]), name) for j in kin]
    if needed and any(objects):
        kin = [j for j, o in zip(kin, objects, strict=True) if needed <= o]
        if not kin:
            return []
    if vary:  # its own action was tried here without progress: change as little as may be
        kin = _fewest_changes(past, kin, given, an)
    vecs = embed_texts(given.embedder, [" ".join(past)]
                       + [" ".join(an.given(given.texts[j])) for j in kin])
    cos = np.asarray(vecs[1:]) @ vecs[0]
    p = np.exp((cos - cos.max()) / NEAR_TEMPERATURE)
    p *= max(float(cos.max()), 0.0) ** NEAR_POWER / p.sum()
    return list(zip(kin, p.tolist(), strict=True))


def _fewest_changes(past: tuple[str, ...], kin: list[int], given: Given, an: Analogy,
                    ) -> list[int]:
    """Of the given actions `kin`, those whose words in order are nearest `past`'s (the
    most words kept in sequence: `difflib`'s ratio): one object swapped for another
    (`pour red into blue` for `pour yellow into blue`), not the whole action re-aimed."""
    ratio = [SequenceMatcher(None, past, an.given(given.texts[j]), autojunk=False).ratio()
             for j in kin]
    best = max(ratio)
    return [j for j, r in zip(kin, ratio, strict=True) if r == best]


def _behind(mem: StepMemory, i: int, task: str | None, given: Given) -> bool:
    """Whether step `i` took, as a new action, one this episode has already taken (up to the
    analogy, with or without its renaming of objects): it is at an earlier point of the
    procedure than the question, so it tells nothing about what comes next (not even
    through a look-alike)."""
    if not given.history:
        return False
    an = analogy(mem, i, task, given)
    taken = given.done(an)
    # nor as it was written (`open door to hallway` again)
    return ((frozenset(an.past(concrete(mem, i))) in taken
             or _as_written(mem, i, task, given)[1] in taken) and not _repeated(mem, i))


def _repeated(mem: StepMemory, i: int) -> bool:
    """Whether step `i` repeated an action of its episode's earlier steps."""
    taken = words(concrete(mem, i))
    return any(words(concrete(mem, j)) == taken for j in mem.earlier_in_episode(i))


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
