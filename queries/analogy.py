"""The task analogy: a past action read under the current task, and its objects as this
episode's (`Analogy`): `focus on red light bulb` under "turn on the red light bulb" is
`focus on blue light bulb` under "turn on the blue light bulb"."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from expgraph.memory.features import WORD, words

TASK_WORD = "it"
UNKNOWN = "?"  # a past object whose role here is another's (never a candidate's word)
FILLER = frozenset({"a", "an", "the", "in", "into"})  # `battery anode` is `anode in battery`,
# `pour X in Y` is `pour X into Y`


@dataclass(frozen=True)
class Analogy:
    """A past action seen under its own task (`then`) and a candidate under the current one
    (`now`): in each, the words of its own task that the other task lacks become one
    placeholder, so `focus on red light bulb` under "turn on the red light bulb" is
    `focus on blue light bulb` under "turn on the blue light bulb". Only where they name what
    the task names: a run of such words in an action is the task's run, or its end (`buzzer`
    of "electric buzzer"), followed by the word that follows it in the task (`red` then
    `light`); `red wire` under the red-bulb task stays a red wire. `roles`: past words read
    as ours (`cast`)."""

    theirs: frozenset[str]
    ours: frozenset[str]
    roles: tuple[tuple[str, str], ...] = ()
    their_runs: frozenset[tuple[tuple[str, ...], str]] = frozenset()
    our_runs: frozenset[tuple[tuple[str, ...], str]] = frozenset()
    shared: frozenset[str] = frozenset()  # words both tasks have

    @classmethod
    def of(cls, then: str, now: str | None) -> Analogy:
        if not now:
            return cls(frozenset(), frozenset())
        a, b = words(then), words(now)
        theirs, ours = frozenset(a - b), frozenset(b - a)
        return cls(theirs, ours, their_runs=_runs(then, theirs), our_runs=_runs(now, ours),
                   shared=frozenset(a & b))

    def past(self, action: str) -> tuple[str, ...]:
        out = _swap(action, self.theirs, self.their_runs)
        if self.roles:
            role = dict(self.roles)
            out = tuple(role.get(w, w) for w in out)
        return out

    def given(self, action: str) -> tuple[str, ...]:
        return _swap(action, self.ours, self.our_runs)

    def cast(self, earlier: Sequence[str], history: Sequence[str]) -> Analogy:
        """Read the past episode's objects as this episode's: the one-to-one renaming of
        single words under which the most of its `earlier` actions are exactly one of this
        episode's `history` (as word sets), built greedily from the pairs of actions that
        differ by one word each way, each renaming kept only if it makes more actions
        coincide (at equal count, one that displaces no past word first). A past word
        another one is renamed to, itself not renamed, reads as `UNKNOWN` (their red wire,
        used where ours is black, is not our red wire), unless both tasks name it (the red
        light bulb of two red-bulb tasks is one). Unchanged when no renaming does."""
        past = [frozenset(self.past(e)) for e in earlier]
        ours = {frozenset(self.given(h)) for h in history}
        if not past or not ours:
            return self
        options: set[tuple[str, str]] = set()
        for e in set(past) - ours:
            for h in ours:
                x, y = e - h, h - e
                if len(x) == 1 and len(y) == 1:
                    (a,), (b,) = x, y
                    if TASK_WORD not in (a, b):
                        options.add((a, b))
        if not options:
            return self
        vocab = frozenset().union(*past)
        role: dict[str, str] = {}

        def read(r: dict[str, str]) -> dict[str, str]:
            return {**{b: UNKNOWN for b in r.values() if b not in self.shared}, **r}

        def hits(r: dict[str, str]) -> int:
            m = read(r)
            return sum(frozenset(m.get(w, w) for w in e) in ours for e in past)

        best = hits(role)
        while True:
            taken = set(role.values())
            # more coinciding first; at equal count, a renaming that displaces no word
            scored = [(hits({**role, a: b}), b not in vocab or b in role, a, b)
                      for a, b in sorted(options) if a not in role and b not in taken]
            if not scored:
                break
            n, _, a, b = max(scored, key=lambda x: x[:2])
            if n <= best:
                break
            role[a], best = b, n
        return replace(self, roles=tuple(sorted(read(role).items()))) if role else self


TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def _runs(task: str, own: frozenset[str]) -> frozenset[tuple[tuple[str, ...], str]]:
    """The task's runs of its own words, each with the word that follows it ("" where a
    sentence or the text ends: no condition)."""
    toks = [t for t in TOKEN.findall(task.lower()) if t not in FILLER]
    out: set[tuple[tuple[str, ...], str]] = set()
    run: list[str] = []
    for t in [*toks, "."]:
        if t in own:
            run.append(t)
            continue
        if run:
            out.add((tuple(run), t if WORD.fullmatch(t) else ""))
            run = []
    return frozenset(out)


def _swap(text: str, own: frozenset[str], runs: frozenset[tuple[tuple[str, ...], str]],
          ) -> tuple[str, ...]:
    toks = [w for w in WORD.findall(text.lower()) if w not in FILLER]
    out: list[str] = []
    i = 0
    while i < len(toks):
        j = i
        while j < len(toks) and toks[j] in own:
            j += 1
        if j == i:
            out.append(toks[i])
            i += 1
            continue
        run, nxt = tuple(toks[i:j]), toks[j] if j < len(toks) else ""
        if any(run == t[len(t) - len(run):] and (not after or after == nxt)
               for t, after in runs):
            out.append(TASK_WORD)
        else:
            out.extend(run)
        i = j
    return tuple(out)
