"""Skill votes from per-state arrays (`DerivedLayer.skill_votes`) equal the loop over every
applying skill they replace, float for float and in the same order, on a real WebShop store,
before and after an ingest (the arrays of what the write touched are rebuilt)."""

from __future__ import annotations

import itertools
import random

import pytest

from expgraph.graph import ExperienceGraph
from expgraph.memory.index import step_memory
from expgraph.memory.sources import next_in_sequence
from expgraph.models import Label, Rel, TaskNode
from expgraph.store import SQLiteStore
from ingestion.detect import open_source


def _reference(mem, states, tasks, history, own):  # noqa: ANN001, ANN202
    """The loop `features._skill_votes` ran before: every skill in id order."""
    votes: dict[int, float] = {}
    behind: dict[int, list[str]] = {}
    for sk in mem.skills_for(states, tasks):
        if not (sk.states & states or sk.tasks & tasks):
            continue
        if own is not None and sk.support <= 1 and own in sk.episodes:
            continue
        nxt = next_in_sequence(sk.actions, history)
        if nxt is None:
            continue
        c = mem.action_id(nxt)
        votes[c] = votes.get(c, 0.0) + max(sk.utility, 0.05)
        behind.setdefault(c, []).append(sk.id)
    top = max(votes.values(), default=0.0)
    return ({c: v / top for c, v in votes.items()} if top > 0 else {}), behind


def _cases(mem, rng):  # noqa: ANN001, ANN202
    by_state = sorted(mem.state_index, key=lambda s: -len(mem.derived.voters(Rel.APPLIES_IN, s).views))
    tasks = [TaskNode(text=t).id for t in mem.tasks]
    busy = by_state[:6]
    skills = mem.skills_for(set(busy), set(tasks[:20]))
    histories = [[]] + [list(sk.actions[:n]) for sk in rng.sample(skills, min(25, len(skills)))
                        for n in range(1, len(sk.actions) + 1)]
    histories += [["reset", *h] for h in histories[:10]] + [["never[seen]"]]
    owners = [None, *rng.sample(mem.episodes, 5)]
    state_sets = [{s} for s in busy] + [set(p) for p in itertools.combinations(busy, 2)]
    state_sets += [set(busy), set(by_state), set()]
    for states in state_sets:
        for task_set in (set(), set(rng.sample(tasks, 3))):
            for history in rng.sample(histories, min(12, len(histories))):
                yield states, task_set, history, rng.choice(owners)


def _check(mem, rng) -> int:  # noqa: ANN001
    n = 0
    for states, tasks, history, own in _cases(mem, rng):
        want = _reference(mem, states, tasks, history, own)
        got = mem.derived.skill_votes(states, tasks, history, own)
        assert list(got[0].items()) == list(want[0].items()), (states, tasks, history, own)
        assert list(got[1].items()) == list(want[1].items()), (states, tasks, history, own)
        n += bool(want[0])
    return n


@pytest.mark.slow
def test_skill_votes_equal_the_loop_over_skills_before_and_after_a_write(tmp_path, shared_data,
                                                                         model):
    eps = list(open_source(shared_data / "react_webshop" / "episodes.txt", format="auto"))
    g = ExperienceGraph(store=SQLiteStore(tmp_path / "w.db"), embedder=model)
    g.ingest(eps[:80])
    mem = step_memory(g.store, g.embedder)
    assert len(g.store.find_nodes(Label.SKILL)) > 20
    assert max(len(mem.derived.voters(Rel.APPLIES_IN, s).views) for s in mem.state_index) > 10
    rng = random.Random(0)
    assert _check(mem, rng) > 100  # cases where skills voted
    g.ingest(eps[80:90])  # distilled online: skills, edges and utilities change in place
    after = step_memory(g.store, g.embedder)
    assert after is mem
    assert _check(mem, rng) > 100
    g.close()


def test_the_aligned_action_reads_only_the_history_s_last_len_actions():
    """`derived.aligned` (memoised on the actions and the history's last len(actions)
    actions) gives what `next_in_sequence` gives on the whole history."""
    from expgraph.memory.derived import _ALIGNED, aligned

    rng = random.Random(11)
    alphabet = ["a", "b", "c", "d"]
    _ALIGNED.clear()
    for _ in range(3000):
        actions = [rng.choice(alphabet) for _ in range(rng.randrange(0, 6))]
        history = [rng.choice(alphabet) for _ in range(rng.randrange(0, 9))]
        want = next_in_sequence(actions, history)
        assert aligned(actions, history) == want
        assert aligned(actions, history) == want  # from the memo
    assert 0 < len(_ALIGNED) < 3000  # histories that agree on their tail share an entry
