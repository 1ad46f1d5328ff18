"""`suggest(..., candidates=[...])`: the caller's concrete actions ranked by what the nearest
successful steps did concretely (with the task analogy), demoted where a near errored step
took exactly that action; real model, real SQLite store, hand-worked orders."""

from __future__ import annotations

import math

import pytest

from expgraph.graph import ExperienceGraph
from expgraph.models import ActionCall, Episode, Outcome, Step, episode_node_id
from queries.analogy import TASK_WORD, UNKNOWN, Analogy

WORKSHOP = ("This room is called the workshop. In it, you see: a battery, a red light bulb, "
            "a blue light bulb, a black wire, a table. You also see: A door to the hallway")
OUTSIDE = ("This outside location is called the outside. Here you see: a baby ant, a shovel, "
           "some wood, a baby wolf, the ground. You also see: A door to the kitchen")
KITCHEN = ("This room is called the kitchen. In it, you see: a fridge, a sink, a stove. "
           "You also see: A door to the outside, A door to the hallway")
HALLWAY = ("You are in the hallway: a long corridor lined with paintings of ships at sea, "
           "portraits, and a grandfather clock ticking. Doors open onto the art studio")


def act(text: str) -> ActionCall:
    """A text action as an agent writes it (`focus on X`): the verb and the rest."""
    verb, _, rest = text.partition(" ")
    return ActionCall(name=verb, arguments={"arg": rest} if rest else {}, raw=text)


def episode(eid: str, task: str, steps: list[tuple[str, str]], success: bool = True,
            errored: int | None = None, rewards: list[float | None] | None = None) -> Episode:
    """An episode; `rewards`: the environment's score after each step, where it reports one."""
    return Episode(id=eid, task=task, outcome=Outcome(success=success),
                   steps=[Step(index=i, observation=o, action=act(a), error=i == errored,
                               reward=None if rewards is None else rewards[i])
                          for i, (o, a) in enumerate(steps)])


def ranked(g: ExperienceGraph, state: str, task: str, candidates: list[str],
           history: list[str] | None = None):
    res = g.suggest(state, task=task, history=history, candidates=candidates,
                    k=len(candidates))
    return res, {n.action: n.score for n in res.next}


def takes_whole_vote(res, score: dict[str, float], winner: str, loser: str) -> None:
    """`winner` first, ahead of `loser` by the whole concrete vote (share 1.0 against none)
    less what the template's score can add: at least 1 - TEMPLATE_WEIGHT (0.75)."""
    assert res.next[0].action == winner
    assert score[winner] - score[loser] >= 0.75


# ------------------------------------------------------------------ the task analogy
def test_analogy_replaces_each_task_own_words_by_one_placeholder():
    an = Analogy.of("Turn on the red light bulb.", "Turn on the electric motor.")
    assert an.theirs == {"red", "light", "bulb"} and an.ours == {"electric", "motor"}
    # consecutive task words collapse into one placeholder, so the two objects match
    assert an.past("focus on red light bulb") == ("focus", "on", TASK_WORD)
    assert an.given("focus on electric motor") == ("focus", "on", TASK_WORD)
    # articles and "in" are left out: `battery anode` is `anode in battery`
    assert an.past("connect black wire terminal 2 to cathode in red light bulb") == (
        "connect", "black", "wire", "terminal", "2", "to", "cathode", TASK_WORD)
    assert set(an.past("connect battery anode to the wire")) == set(
        an.given("connect anode in battery to wire"))
    # words both tasks share stay: a red wire under a red-bulb task is not the bulb
    same = Analogy.of("turn on the red light bulb", "turn on the red light bulb")
    assert same.past("focus on red light bulb") == ("focus", "on", "red", "light", "bulb")


def test_analogy_swaps_task_words_only_where_they_name_the_task_object():
    # "red" is the red-bulb task's own word, followed there by "light": a red wire is not
    # the bulb and keeps its colour; the red light bulb is the placeholder.
    red = "Your task is to turn on the red light bulb. First, focus on the red light bulb."
    blue = "Your task is to turn on the blue light bulb. First, focus on the blue light bulb."
    an = Analogy.of(red, blue)
    assert an.past("connect red wire terminal 2 to cathode in red light bulb") == (
        "connect", "red", "wire", "terminal", "2", "to", "cathode", TASK_WORD, "light", "bulb")
    assert an.given("connect blue wire terminal 1 to blue light bulb cathode") == (
        "connect", "blue", "wire", "terminal", "1", "to", TASK_WORD, "light", "bulb", "cathode")
    # the end of the task's run stands for it (the env says `buzzer` for "electric buzzer");
    # its start alone does not (`red wire` under "red light bulb." is not the bulb)
    an = Analogy.of(red, "Your task is to turn on the electric buzzer. First, focus on it.")
    assert an.given("connect anode in buzzer to blue wire terminal 2") == (
        "connect", "anode", TASK_WORD, "to", "blue", "wire", "terminal", "2")
    assert an.past("connect battery cathode to red wire terminal 1") == (
        "connect", "battery", "cathode", "to", "red", "wire", "terminal", "1")
    # `into` is filler like `in`: the env's `pour X into Y` is experience's `pour X in Y`
    assert an.past("pour cup in jug") == an.given("pour cup into jug") == ("pour", "cup", "jug")


def test_cast_reads_the_past_episodes_objects_as_this_episodes():
    # Their episode put the black wire on the battery anode and the orange one on the
    # cathode; this one used red and black. Renaming black->red makes their first connect
    # ours (1 coincidence), then orange->black their second (2); anode->cathode would also
    # make one coincide but displaces `cathode`, which their episode uses: it comes last and
    # adds nothing. Their next step, `black wire terminal 2 to cathode in <bulb>`, reads as
    # our red wire's; their orange wire's step as our black wire's.
    an = Analogy.of("Your task is to turn on the red light bulb.",
                    "Your task is to turn on the electric motor.")
    earlier = ["look around", "focus on red light bulb",
               "connect battery anode to black wire terminal 1",
               "connect battery cathode to orange wire terminal 1"]
    history = ["look[around]", "focus[on electric motor]",
               "connect[anode in battery to red wire terminal 1]",
               "connect[black wire terminal 1 to battery cathode]"]
    cast = an.cast(earlier, history)
    assert cast.roles == (("black", "red"), ("orange", "black"), ("red", UNKNOWN))
    assert set(cast.past("connect black wire terminal 2 to cathode in red light bulb")) == set(
        an.given("connect red wire terminal 2 to cathode in electric motor"))
    assert set(cast.past("connect orange wire terminal 2 to anode in red light bulb")) == set(
        an.given("connect anode in electric motor to black wire terminal 2"))
    # Only the anode is wired here: black->red; their red wire (if any) is not our red one
    cast = an.cast(earlier[:3], history[:3])
    assert cast.roles == (("black", "red"), ("red", UNKNOWN))
    assert cast.past("connect battery cathode to red wire terminal 1") == (
        "connect", "battery", "cathode", "to", UNKNOWN, "wire", "terminal", "1")
    # Nothing to rename where their earlier actions already coincide with ours
    assert an.cast(["open door to outside", "go to outside"],
                   ["open door[to kitchen]", "go[to kitchen]", "open door[to outside]",
                    "go[to outside]"]).roles == ()
    assert an.cast([], history) == an and an.cast(earlier, []) == an


def test_analogy_without_a_current_task_changes_nothing():
    an = Analogy.of("turn on the red light bulb", None)
    assert an.past("focus on red light bulb") == ("focus", "on", "red", "light", "bulb")


@pytest.fixture
def workshop(tmp_path, model):
    g = ExperienceGraph(tmp_path / "w.db", embedder=model)
    g.ingest([episode(f"red{i}", "Your task is to turn on the red light bulb.",
                      [(WORKSHOP, "focus on red light bulb"),
                       ("You focus on the red light bulb.", "wait1")])
              for i in range(3)])
    yield g
    g.close()


def test_given_actions_follow_the_task_analogy(workshop):
    # Every neighbour focused on the bulb its task named: under "blue" that is the blue bulb.
    # The blue bulb gets every concrete vote (share 1.0); the red one and the battery none
    # (a neighbour whose own action is available votes for it alone), so they differ from
    # it by 1.0 minus at most TEMPLATE_WEIGHT (0.25) of template score.
    given = ["focus on red light bulb", "focus on battery", "focus on blue light bulb"]
    res, score = ranked(workshop, WORKSHOP, "Your task is to turn on the blue light bulb.", given)
    assert res.next[0].action == "focus on blue light bulb"
    assert score["focus on blue light bulb"] - score["focus on red light bulb"] >= 0.75
    assert score["focus on blue light bulb"] - score["focus on battery"] >= 0.75
    # under the neighbours' own task, the red bulb is theirs
    res, _ = ranked(workshop, WORKSHOP, "Your task is to turn on the red light bulb.", given)
    assert res.next[0].action == "focus on red light bulb"


# ------------------------------------------------------------------ sharp neighbour weights
def test_the_nearest_step_outvotes_a_farther_majority(tmp_path, model):
    # One run opened the kitchen door from exactly this view; two others opened the hallway
    # door from a different view. Their weights: 1 vs 2 exp(-(1 - s) / SHARPNESS) with s
    # their similarity (message and task averaged; the task is the same) - well under 1 for
    # any s below 0.99. With similarity shares (the old rule) the two would outvote it.
    task = "Your task is to find the animal with the shortest life span."
    with ExperienceGraph(tmp_path / "n.db", embedder=model) as g:
        g.ingest([episode("k", task, [(KITCHEN, "open door to kitchen")]),
                  episode("h1", task, [(HALLWAY, "open door to hallway")]),
                  episode("h2", task, [(HALLWAY, "open door to hallway")])])
        res, score = ranked(g, KITCHEN, task, ["open door to hallway", "open door to kitchen"])
    assert [n.action for n in res.next] == ["open door to kitchen", "open door to hallway"]
    assert score["open door to kitchen"] - score["open door to hallway"] > 0.9


# ------------------------------------------------------------------ near votes
def test_a_step_whose_action_is_not_given_votes_for_its_closest_kin(tmp_path, model):
    # The runs poured "... in jug"; the environment now spells it "... into jug". The vote
    # goes to the given pour most like it; `focus on jug` (another action name) gets none,
    # so it scores at most TEMPLATE_WEIGHT.
    task = "Your task is to use chemistry to create green paint."
    art = "This room is called the art studio. You see a jug, a cup of blue paint, a sink."
    with ExperienceGraph(tmp_path / "p.db", embedder=model) as g:
        g.ingest([episode(f"p{i}", task, [(art, "pour cup containing blue paint in jug")])
                  for i in range(2)])
        given = ["focus on jug", "pour jug into sink", "pour cup containing blue paint into jug"]
        res, score = ranked(g, art, task, given)
    assert res.next[0].action == "pour cup containing blue paint into jug"
    assert score["focus on jug"] <= 0.25
    assert score["pour cup containing blue paint into jug"] > score["pour jug into sink"] + 0.3


# ------------------------------------------------------------------ errored steps
def _outside(tmp_path, model, extra: list[Episode]) -> ExperienceGraph:
    task = "Your task is to find the animal with the shortest life span."
    g = ExperienceGraph(tmp_path / "o.db", embedder=model)
    g.ingest([episode("ok", task, [(OUTSIDE, "focus on ant")]),
              episode("bad", task, [(OUTSIDE, "focus on wood")], success=False, errored=0),
              *extra])
    return g


def test_an_errored_step_demotes_and_flags_exactly_that_action(tmp_path, model):
    # The failed run's focus on the wood errored from this very view (similarity ~1): the
    # wood loses ~1 and is the only action flagged; the shovel (no evidence) is not.
    task = "Your task is to find the animal with the shortest life span."
    with _outside(tmp_path, model, []) as g:
        res, score = ranked(g, OUTSIDE, task, ["focus on wood", "focus on shovel", "focus on ant"])
    assert [n.action for n in res.next] == ["focus on ant", "focus on shovel", "focus on wood"]
    assert [a.action for a in res.avoid] == ["focus on wood"]
    assert res.avoid[0].score == pytest.approx(1.0, abs=0.01)
    assert score["focus on wood"] < 0 < score["focus on shovel"]


def test_a_success_as_near_as_the_error_keeps_the_action(tmp_path, model):
    # Another run focused on the wood from the same view and succeeded: the error no longer
    # outweighs it, so nothing is flagged.
    task = "Your task is to find the animal with the shortest life span."
    with _outside(tmp_path, model, [episode("ok2", task, [(OUTSIDE, "focus on wood")])]) as g:
        res, score = ranked(g, OUTSIDE, task, ["focus on wood", "focus on shovel", "focus on ant"])
    assert res.avoid == []
    # ant and wood share the two neighbours' votes (1/2 each), the shovel none
    assert score["focus on wood"] > score["focus on shovel"] + 0.4
    assert math.isclose(score["focus on wood"] - score["focus on ant"], 0.0, abs_tol=0.26)


def test_a_new_action_does_not_vote_for_repeating_one_already_taken(tmp_path, model):
    # The runs focused on the elephant, then on the mouse (a new object). Here the elephant is
    # already focused on and the mouse is absent: the second focus's vote goes to the
    # hedgehog, not to repeating the elephant (which the step's own action was not), so the
    # elephant keeps only its template score (at most TEMPLATE_WEIGHT).
    task = "Your task is to find the animal with the longest life span, then the shortest."
    after = "You focus on the baby elephant."
    with ExperienceGraph(tmp_path / "r.db", embedder=model) as g:
        g.ingest([episode(f"e{i}", task, [(OUTSIDE, "focus on baby elephant"),
                                          (after, "focus on baby mouse")]) for i in range(2)])
        res, score = ranked(g, after, task, ["focus on baby elephant", "focus on baby hedgehog"],
                            history=["focus on baby elephant"])
    assert res.next[0].action == "focus on baby hedgehog"
    assert score["focus on baby elephant"] <= 0.25



def test_an_error_from_a_less_similar_view_weighs_as_a_success_that_far_would(tmp_path, model):
    # The success focused on the ant from exactly this view (similarity 1); the errored focus
    # on the wood came from another outside view, cosine c to this one. Task, history and
    # task bonuses are equal for both, so the error's weight is
    # exp(-(1 - (1 + c) / 2) / SHARPNESS) = exp(50 (c - 1)) of the success's whole vote.
    # The wood and the shovel share a template (same template score) and no success took
    # either, so the wood scores exactly that much below the shovel, and is flagged.
    from queries.corpus import embed_texts
    from queries.votes import SHARPNESS

    task = "Your task is to find the animal with the shortest life span."
    other = ("This outside location is called the outside. Here you see: a baby ant, some "
             "wood, a fire pit, a baby wolf, the ground. You also see: A door to the greenhouse")
    v = embed_texts(model, [OUTSIDE, other])
    c = float(v[0] @ v[1])
    expected = math.exp(-(1 - (1 + c) / 2) / SHARPNESS)
    assert 1e-3 < expected < 0.5  # a different view: well under a success from this one
    with ExperienceGraph(tmp_path / "f.db", embedder=model) as g:
        g.ingest([episode("ok", task, [(OUTSIDE, "focus on ant")]),
                  episode("bad", task, [(other, "focus on wood")], success=False, errored=0)])
        res, score = ranked(g, OUTSIDE, task, ["focus on wood", "focus on shovel", "focus on ant"])
    assert res.next[0].action == "focus on ant"
    assert score["focus on shovel"] - score["focus on wood"] == pytest.approx(expected, rel=0.05)
    assert [a.action for a in res.avoid] == ["focus on wood"]
    assert res.avoid[0].score == pytest.approx(expected, rel=0.05)


def test_a_step_whose_action_was_already_taken_neither_votes_nor_weighs(tmp_path, model):
    # The run focused on the motor from the workshop view, then connected the battery from
    # another view. Here the focus is done and the view is still the workshop's: the nearest
    # step is the focus, an earlier point of the procedure. It gives no vote - before, its
    # vote went to the new focus most like its own (the motor's cathode) - and leaves the
    # weights: the connect step is then the only voter and its exact action gets share 1.0,
    # the cathode none, so they differ by at least 1 - TEMPLATE_WEIGHT.
    task = "Your task is to turn on the electric motor."
    after = "You connect the battery anode to the motor. The motor is connected."
    with ExperienceGraph(tmp_path / "b.db", embedder=model) as g:
        g.ingest([episode("m", task, [(WORKSHOP, "focus on electric motor"),
                                      (after, "connect battery anode to electric motor")])])
        given = ["focus on electric motor", "focus on cathode in electric motor",
                 "connect battery anode to electric motor"]
        res, score = ranked(g, WORKSHOP, task, given, history=["focus on electric motor"])
    takes_whole_vote(res, score, "connect battery anode to electric motor",
                     "focus on cathode in electric motor")


def test_a_past_step_votes_for_the_object_this_episode_gave_its_role(tmp_path, model):
    # The run wired the black wire to the battery anode, then its terminal 2 to the bulb.
    # Here the red wire is on the anode and black is another free wire: the step reads as
    # `connect red wire terminal 2 ...` (Analogy.cast), its exact action is given, and it
    # gets the whole vote (share 1.0); the black wire's look-alike gets none, so the two
    # differ by at least 1 - TEMPLATE_WEIGHT. Without the renaming the vote went to black.
    task = "Your task is to turn on the red light bulb."
    after = "terminal 1 on black wire is now connected to anode on battery. " + WORKSHOP
    with ExperienceGraph(tmp_path / "c.db", embedder=model) as g:
        g.ingest([episode("w", task, [
            (WORKSHOP, "connect battery anode to black wire terminal 1"),
            (after, "connect black wire terminal 2 to cathode in red light bulb")])])
        given = ["connect black wire terminal 2 to cathode in red light bulb",
                 "connect red wire terminal 2 to cathode in red light bulb"]
        res, score = ranked(g, after.replace("black", "red"), task, given,
                            history=["connect anode in battery to red wire terminal 1"])
    takes_whole_vote(res, score, "connect red wire terminal 2 to cathode in red light bulb",
                     "connect black wire terminal 2 to cathode in red light bulb")


def test_an_error_counts_only_at_the_same_point_of_the_procedure(tmp_path, model):
    # The failed run focused on the ant as its FIRST focus, from the outside view (errored);
    # the successful run focused on the egg there, then on the ant. Asked for the second
    # focus (the egg taken), the error is at another point of the procedure: it neither
    # demotes nor flags the ant, which keeps the success's whole vote. Asked for the first
    # focus from the outside view, it counts: the ant is flagged and scores below the shovel
    # (no evidence either way).
    task = "Your task is to find the animal with the longest life span, then the shortest."
    after = "You focus on the egg. " + OUTSIDE
    with ExperienceGraph(tmp_path / "p.db", embedder=model) as g:
        g.ingest([episode("ok", task, [(OUTSIDE, "focus on egg"), (after, "focus on ant")]),
                  episode("bad", task, [(OUTSIDE, "focus on ant")], success=False, errored=0)])
        given = ["focus on ant", "focus on shovel", "focus on egg"]
        res, score = ranked(g, after, task, given, history=["focus on egg"])
        assert res.next[0].action == "focus on ant" and res.avoid == []
        assert score["focus on ant"] - score["focus on shovel"] >= 0.75
        res, score = ranked(g, OUTSIDE, task, given)
    assert res.next[0].action == "focus on egg"
    assert [a.action for a in res.avoid] == ["focus on ant"]
    assert score["focus on ant"] < score["focus on shovel"]


OTHER_OUTSIDE = ("This outside location is called the outside. Here you see: a baby ant, some "
                 "wood, a fire pit, a baby wolf, the ground. You also see: A door to the greenhouse")


def test_an_action_seen_failing_in_this_task_gets_no_look_alike_vote(tmp_path, model):
    # The success focused on the baby mouse from this view; the mouse is absent here, so its
    # vote goes to the given focus most like it. A failed run of the very same task focused
    # on the baby rat at the same point (the first focus), errored, from another view: too far
    # to weigh much against it (exp(50 (c - 1)) of the success's vote), but a direct
    # counterexample, so the look-alike vote skips the rat and goes to the elephant. Where
    # the failed run is of another task, the rat (the mouse's nearest look-alike) keeps it.
    from queries.corpus import embed_texts
    from queries.suggest import TEMPLATE_WEIGHT
    from queries.votes import SHARPNESS

    task = "Your task is to find the animal with the longest life span, then the shortest."
    other_task = "Your task is to grow an apple tree in the greenhouse."
    view = OUTSIDE.replace("a baby ant", "a baby rat, a baby elephant")
    v = embed_texts(model, [view, OTHER_OUTSIDE])
    assert math.exp(-(1 - (1 + float(v[0] @ v[1])) / 2) / SHARPNESS) < 0.5
    given = ["focus on baby rat", "focus on baby elephant"]
    for failed_task, first in ((task, "focus on baby elephant"), (other_task, "focus on baby rat")):
        with ExperienceGraph(tmp_path / f"{first[-3:]}.db", embedder=model) as g:
            g.ingest([episode("ok", task, [(view, "focus on baby mouse")]),
                      episode("bad", failed_task, [(OTHER_OUTSIDE, "focus on baby rat")],
                              success=False, errored=0)])
            res, score = ranked(g, view, task, given)
        assert res.next[0].action == first, failed_task
        if failed_task == task:  # the refuted rat: no vote, its template score at most
            assert score["focus on baby rat"] <= TEMPLATE_WEIGHT


def test_a_neighbouring_tasks_step_is_no_precedent_where_this_task_has_precedents(
        tmp_path, model):
    # "Find the longest-lived" focused on the hedgehog from exactly this view (similarity 1,
    # task cosine t < SAME_TASK); "longest, then shortest" (this task) focused on the
    # elephant from the kitchen (cosine c). The neighbouring task's step is the nearer
    # ((1 + t) / 2 > (c + 1) / 2 + SAME_TASK_BONUS). With no run of this task stored, or one
    # only (one run is one layout, not yet PRECEDENT_RUNS), it votes and the hedgehog comes
    # first; from the second run of this task on only this task's steps vote: the elephant
    # gets the whole vote and the hedgehog none (at most TEMPLATE_WEIGHT).
    from expgraph.memory.features import SAME_TASK
    from queries.corpus import embed_texts
    from queries.votes import PRECEDENT_RUNS, SAME_TASK_BONUS

    assert PRECEDENT_RUNS == 2
    task = "Your task is to find the animal with the longest life span, then the shortest."
    sibling = "Your task is to find the animal with the longest life span."
    view = OUTSIDE.replace("a baby ant", "a baby hedgehog, a baby elephant")
    there = KITCHEN.replace("a sink", "a baby elephant")
    v = embed_texts(model, [task, sibling, view, there])
    t, c = float(v[0] @ v[1]), float(v[2] @ v[3])
    assert t < SAME_TASK and (1 + t) / 2 > (c + 1) / 2 + SAME_TASK_BONUS
    given = ["focus on baby hedgehog", "focus on baby elephant"]
    runs = [episode(f"m{i}", task, [(there, "focus on baby elephant")]) for i in range(2)]
    with ExperienceGraph(tmp_path / "t.db", embedder=model) as g:
        g.ingest(episode("s", sibling, [(view, "focus on baby hedgehog")]))
        for stored in runs:
            res, _ = ranked(g, view, task, given)
            assert res.next[0].action == "focus on baby hedgehog"
            g.ingest(stored)
        res, score = ranked(g, view, task, given)
    takes_whole_vote(res, score, "focus on baby elephant", "focus on baby hedgehog")


def test_a_step_further_along_the_procedure_does_not_vote(tmp_path, model):
    # The successful run focused on the elephant from the kitchen, then on the hedgehog from
    # exactly this view. Asked for the FIRST focus here, the hedgehog step is the nearest
    # (similarity 1) but one focus further along (`_point` 1): no guide to the first choice,
    # so the elephant (the run's first focus, exactly given) takes the whole vote. Asked for
    # the second focus (the elephant taken), the hedgehog step is at the same point and wins.
    task = "Your task is to find the animal with the longest life span, then the shortest."
    view = OUTSIDE.replace("a baby ant", "a baby hedgehog, a baby elephant")
    there = KITCHEN.replace("a sink", "a baby elephant")
    given = ["focus on baby hedgehog", "focus on baby elephant"]
    with ExperienceGraph(tmp_path / "a.db", embedder=model) as g:
        g.ingest([episode("s", task, [(there, "focus on baby elephant"),
                                      (view, "focus on baby hedgehog")])])
        res, score = ranked(g, view, task, given)
        takes_whole_vote(res, score, "focus on baby elephant", "focus on baby hedgehog")
        res, score = ranked(g, view, task, given, history=["focus on baby elephant"])
    assert res.next[0].action == "focus on baby hedgehog"


def test_a_look_alike_vote_skips_an_object_this_task_used_at_another_point(tmp_path, model):
    # One success of this task focused on a baby bear first from exactly this view: no bear
    # here, so its vote goes to the given focus most like it (z). Another success of this task
    # focused on z SECOND (from a room far away, so it barely weighs): z's role in this task is
    # the second choice, so the bear's look-alike vote goes to the other animal, and z gets
    # none (its template score at most).
    from queries.corpus import embed_texts
    from queries.suggest import TEMPLATE_WEIGHT

    task = "Your task is to find the animal with the longest life span, then the shortest."
    view = OUTSIDE.replace("a baby ant", "a baby hedgehog, a baby elephant")
    given = ["focus on baby hedgehog", "focus on baby elephant"]
    v = embed_texts(model, ["focus on baby bear", *given])
    z, other = (given if float(v[0] @ v[1]) > float(v[0] @ v[2]) else given[::-1])
    bear = episode("b", task, [(view, "focus on baby bear")])
    with ExperienceGraph(tmp_path / "z.db", embedder=model) as g:
        g.ingest([bear])
        res, _ = ranked(g, view, task, given)
        assert res.next[0].action == z
        g.ingest(episode("s", task, [(KITCHEN, "focus on baby tortoise"), (HALLWAY, z)]))
        res, score = ranked(g, view, task, given)
    assert res.next[0].action == other
    assert score[z] <= TEMPLATE_WEIGHT


def test_a_step_on_the_tasks_own_object_votes_only_for_that_object(tmp_path, model):
    # The run focused on the electric motor, the object its (this) task names. Outside there
    # is no motor: no given focus is a look-alike of it (the ground is not the motor), so no
    # focus gets a vote, only its share of the template score (equal, at most half of
    # TEMPLATE_WEIGHT for two fillers); in the workshop the motor takes the whole vote.
    from queries.suggest import TEMPLATE_WEIGHT

    task = "Your task is to turn on the electric motor. First, focus on the electric motor."
    shop = WORKSHOP.replace("a red light bulb", "an electric motor")
    with ExperienceGraph(tmp_path / "m.db", embedder=model) as g:
        g.ingest([episode(f"m{i}", task, [(shop, "focus on electric motor")]) for i in range(2)])
        res, score = ranked(g, OUTSIDE, task, ["focus on ground", "focus on baby wolf"])
        assert score["focus on ground"] == pytest.approx(score["focus on baby wolf"], abs=1e-9)
        assert max(score.values()) <= TEMPLATE_WEIGHT / 2
        res, score = ranked(g, shop, task, ["focus on battery", "focus on electric motor"])
    takes_whole_vote(res, score, "focus on electric motor", "focus on battery")


def test_without_evidence_a_templates_score_is_shared_by_its_fillers(tmp_path, model):
    # No stored step focused on anything: the focus template's score says a focus may come
    # next, not on what. Three given focuses share it (a third each of what one alone gets);
    # `look around`, one action, keeps its whole template score.
    task = "Your task is to find the animal with the shortest life span."
    with ExperienceGraph(tmp_path / "f.db", embedder=model) as g:
        g.ingest([episode(f"k{i}", task, [(KITCHEN, "open door to hallway"),
                                          (HALLWAY, "look around")]) for i in range(2)])
        _, alone = ranked(g, OUTSIDE, task, ["focus on wood", "look around"])
        _, three = ranked(g, OUTSIDE, task, ["focus on wood", "focus on shovel",
                                             "focus on ground", "look around"])
    for f in ("focus on wood", "focus on shovel", "focus on ground"):
        assert three[f] == pytest.approx(alone["focus on wood"] / 3, abs=1e-6)
    assert three["look around"] == pytest.approx(alone["look around"], abs=1e-6)


def test_a_tool_call_votes_for_its_bare_name_whatever_its_arguments(tmp_path, model):
    # A tool agent is offered bare tool names. The run called get_order_details on the order
    # its task named; offered `get_order_details` and `cancel_pending_order`, the vote goes to
    # the bare name (it names no object, so the task's object cannot be missing from it): a
    # look-alike's share, the best cosine ** NEAR_POWER of the whole vote (over 0.5 here),
    # against none for the other.
    def run(eid: str, order: str) -> Episode:
        return Episode(id=eid, task=f"Cancel order {order}: no longer needed.",
                       outcome=Outcome(success=True),
                       steps=[Step(index=0, observation="The user wants to cancel an order.",
                                   action=ActionCall(name="get_order_details",
                                                     arguments={"order_id": order}))])

    given = ["cancel_pending_order", "get_order_details"]
    with ExperienceGraph(tmp_path / "tool.db", embedder=model) as g:
        g.ingest([run("a", "#W1111"), run("b", "#W2222")])
        res, score = ranked(g, "The user wants to cancel an order.",
                            "Cancel order #W3333: no longer needed.", given)
    assert res.next[0].action == "get_order_details"
    assert score["get_order_details"] - score["cancel_pending_order"] > 0.5


# ------------------------------------------------------------------ word order
def test_an_exact_match_keeps_the_past_actions_word_order(tmp_path, model):
    # Both given pours have exactly the words of the runs' pour (`in` and `into` are filler
    # alike); only one pours the same way (the jug into the cup). It takes the whole vote;
    # the reverse pour, first in alphabetical order, gets none.
    task = "Your task is to use chemistry to create green paint."
    art = "This room is called the art studio. You see a jug, a cup of blue paint, a sink."
    given = ["pour cup containing blue paint into jug", "pour jug into cup containing blue paint"]
    with ExperienceGraph(tmp_path / "o.db", embedder=model) as g:
        g.ingest([episode(f"p{i}", task, [(art, "pour jug in cup containing blue paint")])
                  for i in range(2)])
        res, score = ranked(g, art, task, given)
    takes_whole_vote(res, score, given[1], given[0])


# ------------------------------------------------------------------ instructions
LONGEST = ("Your task is to find the animal with the longest life span, then the shortest life "
           "span. First, focus on the animal with the longest life span. Then, focus on the "
           "animal with the shortest life span.")
SHORTEST = ("Your task is to find the animal with the shortest life span. Focus on the animal "
            "with the shortest life span.")


def test_a_tasks_instructions_for_an_action_name_in_order():
    from queries.votes import instructions

    assert instructions(LONGEST, "focus") == (
        ("focus", "on", "animal", "with", "longest", "life", "span"),
        ("focus", "on", "animal", "with", "shortest", "life", "span"))
    assert instructions(SHORTEST, "focus") == (instructions(LONGEST, "focus")[1],)
    assert instructions(SHORTEST, "go") == ()


def _three_animals(model, far: str) -> tuple[str, str, str]:
    """The outside with a wolf and an ant; of the two focuses, the one most like a focus on
    `far` (not here), and the other."""
    from queries.corpus import embed_texts

    given = ["focus on baby wolf", "focus on baby ant"]
    v = embed_texts(model, [f"focus on {far}", *given])
    z, other = given if float(v[0] @ v[1]) > float(v[0] @ v[2]) else given[::-1]
    view = OUTSIDE.replace("a shovel", "a baby elephant")
    return view, z, other


def test_another_tasks_step_serving_the_same_instruction_votes(tmp_path, model):
    # This task's two runs focused on the elephant, then on a mouse (not here: its look-alike
    # vote goes to z). A run of "find the shortest-lived" focused on the other animal from
    # exactly this view: a neighbouring task, no precedent once this task has two runs, but
    # its focus served this very instruction ("focus on the animal with the shortest life
    # span", this task's second focus): asked for the second focus it votes, exactly, and
    # its animal wins. Asked for the first focus, it is not at that point: it does not vote.
    view, z, other = _three_animals(model, "baby mouse")
    given = [z, other]
    runs = [episode(f"l{i}", LONGEST, [(KITCHEN, "focus on baby elephant"),
                                       (HALLWAY, "focus on baby mouse")]) for i in range(2)]
    with ExperienceGraph(tmp_path / "i.db", embedder=model) as g:
        g.ingest(runs)
        res, _ = ranked(g, view, LONGEST, given, history=["focus on baby elephant"])
        assert res.next[0].action == z
        g.ingest(episode("s", SHORTEST, [(view, f"focus on {other.removeprefix('focus on ')}")]))
        res, score = ranked(g, view, LONGEST, given, history=["focus on baby elephant"])
        takes_whole_vote(res, score, other, z)
        res, score = ranked(g, view, LONGEST, [*given, "focus on baby elephant"])
    assert res.next[0].action == "focus on baby elephant"


def test_an_object_that_served_another_instruction_gets_no_look_alike_vote(tmp_path, model):
    # This task's runs focused first on a bear (not here): its look-alike vote goes to z.
    # Then a run of "find the shortest-lived" focused on z (far from here, so it barely
    # weighs): in this task z answers the second instruction, not the first, so the bear's
    # vote goes to the other animal and z keeps its template score at most.
    from queries.suggest import TEMPLATE_WEIGHT

    view, z, other = _three_animals(model, "baby bear")
    given = [z, other]
    runs = [episode(f"l{i}", LONGEST, [(view, "focus on baby bear")]) for i in range(2)]
    with ExperienceGraph(tmp_path / "r.db", embedder=model) as g:
        g.ingest(runs)
        res, _ = ranked(g, view, LONGEST, given)
        assert res.next[0].action == z
        g.ingest(episode("s", SHORTEST, [(HALLWAY, z)]))
        res, score = ranked(g, view, LONGEST, given)
    assert res.next[0].action == other
    assert score[z] <= TEMPLATE_WEIGHT


# ------------------------------------------------------------------ exact precedents
def test_an_exact_precedent_outweighs_a_slightly_nearer_look_alike(tmp_path, model):
    # The nearest run (this very view) focused on a bear, not here: a look-alike vote, for z.
    # A run from a view a little less similar (within EXACT_MARGIN) focused exactly on the
    # other animal, which this view shows: direct evidence, counted as if EXACT_MARGIN
    # nearer, so the other animal wins. A `wait1` there (it names nothing this view shows)
    # gets no such credit and the bear's look-alike keeps the lead.
    from queries.corpus import embed_texts
    from queries.votes import EXACT_MARGIN

    view, z, other = _three_animals(model, "baby bear")
    there = view.replace("This outside location is called the outside. Here you see:",
                         "Outside you see:")
    v = embed_texts(model, [view, there])
    gap = (1 - float(v[0] @ v[1])) / 2  # message and (the same) task averaged
    assert 0.02 < gap < EXACT_MARGIN  # a little less similar, within the margin
    task = "Your task is to find the animal with the shortest life span."
    with ExperienceGraph(tmp_path / "x.db", embedder=model) as g:
        g.ingest([episode("b", task, [(view, "focus on baby bear")]),
                  episode("o", task, [(there, other)])])
        res, score = ranked(g, view, task, [z, other])
        assert res.next[0].action == other
    with ExperienceGraph(tmp_path / "w.db", embedder=model) as g:
        g.ingest([episode("b", task, [(view, "focus on baby bear")]),
                  episode("o", task, [(there, "wait1")])])
        res, score = ranked(g, view, task, [z, other, "wait1"])
    assert res.next[0].action == z


def test_an_action_that_answered_another_instruction_keeps_no_score_of_its_own(tmp_path, model):
    # "Find the shortest-lived" runs focused on the ant (in enough distinct runs for
    # `focus on baby ant` to become an action of its own, a constant, with its own fused
    # score). For this task's first focus the ant answers the other instruction: it gets
    # neither a look-alike vote nor that score, so nothing at all; the wolf, a look-alike of
    # this task's own first animal, leads.
    from expgraph.memory.index import step_memory

    view = OUTSIDE.replace("a shovel", "a baby elephant")
    given = ["focus on baby wolf", "focus on baby ant"]
    with ExperienceGraph(tmp_path / "c.db", embedder=model) as g:
        g.ingest([episode(f"l{i}", LONGEST, [(KITCHEN, "focus on baby bear")]) for i in range(2)]
                 + [episode(f"s{i}", SHORTEST, [(KITCHEN, f"open door to room {i}"),
                                                (HALLWAY, "focus on baby ant")])
                    for i in range(4)])
        g.refine()
        assert "on baby ant" in step_memory(g.store, g.embedder).constants["focus"]
        res, score = ranked(g, view, LONGEST, given)
    assert res.next[0].action == "focus on baby wolf"
    assert score["focus on baby ant"] == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------ tried without progress
GREEN = "Your task is to use chemistry to create green paint."
VIOLET = "Your task is to use chemistry to create violet paint."
STUDIO = ("This room is called the art studio. On the table: a jug, a cup containing red "
          "paint, a cup containing yellow paint, a cup containing nothing.")
POURED = "You pour the contents of the cup into the jug."
BLUE = "pour cup containing blue paint into jug"
YELLOW = "pour cup containing yellow paint into jug"
RED = "pour cup containing red paint into jug"


def _paints(tmp_path, model, failed: list[Episode]):
    """Two green runs poured blue, then yellow, into the jug; `failed` are runs of the violet
    task. The question: the violet task's second pour, after the blue one."""
    green = [(STUDIO, BLUE), (POURED, YELLOW), (POURED, "mix jug")]
    given = [YELLOW, RED, "pour cup containing yellow paint into cup containing nothing"]
    with ExperienceGraph(tmp_path / "t.db", embedder=model) as g:
        g.ingest([episode(f"g{i}", GREEN, green, True, rewards=[0.2, 0.5, 1.0])
                  for i in range(2)]
                 + failed)
        return ranked(g, POURED, VIOLET, given, history=[BLUE])


def test_memory_marks_a_failed_runs_steps_after_its_last_gain_in_reward(tmp_path, model):
    from expgraph.memory.index import step_memory

    steps = [(STUDIO, BLUE), (POURED, YELLOW), (POURED, "mix jug")]
    with ExperienceGraph(tmp_path / "m.db", embedder=model) as g:
        g.ingest([episode("ok", GREEN, steps, True, rewards=[0.2, 0.2, 1.0]),
                  episode("stuck", VIOLET, steps, False, rewards=[0.2, 0.2, 0.2]),
                  episode("late", VIOLET, steps, False, rewards=[0.2, 0.3, 0.3]),
                  episode("flat", VIOLET, steps, False, rewards=[0.0, 0.0, 0.0]),
                  episode("final", VIOLET, steps, False, rewards=[None, None, 0.0]),
                  episode("silent", VIOLET, steps, False, rewards=None)])
        mem = step_memory(g.store, g.embedder)
        ids = {episode_node_id(k): k for k in ("ok", "stuck", "late", "flat", "final", "silent")}
        got = {}
        for e, name in enumerate(mem.episodes):
            js = sorted(mem.episode_steps[e], key=mem.position.__getitem__)
            got[ids[name]] = [mem.stalled(j) for j in js]
    assert got == {"ok": [False] * 3,  # a success has nothing to redo
                   "stuck": [False, True, True],  # the first score is a gain over none
                   "late": [False, False, True],
                   "flat": [True] * 3,  # no gain at all
                   "final": [False, False, True],  # only the final score: only the last step
                   "silent": [False] * 3}  # no rewards: nothing known


def test_a_store_written_before_step_rewards_gets_them_back_from_a_rebuild(tmp_path, model):
    # Step nodes without `reward` (a store written before they carried it): the episode's own
    # steps still have the rewards, and the offline rebuild (`expgraph distill`) rewrites the
    # Step nodes from them, so the step memory marks the stalled steps again - also the one
    # this process built before the rebuild (same number of steps: it must not be kept).
    from expgraph.distill import distill
    from expgraph.memory.index import step_memory
    from expgraph.models import Label

    steps = [(STUDIO, BLUE), (POURED, YELLOW), (POURED, "mix jug")]
    with ExperienceGraph(tmp_path / "r.db", embedder=model) as g:
        g.ingest([episode("stuck", VIOLET, steps, False, rewards=[0.2, 0.2, 0.2])])
        old = g.store.find_nodes(Label.STEP)
        for r in old:
            r.props.pop("reward")
        g.store.upsert_nodes(old)

        def marked() -> list[bool]:
            mem = step_memory(g.store, g.embedder)
            return [mem.stalled(j) for j in sorted(range(len(mem)),
                                                   key=mem.position.__getitem__)]

        assert marked() == [False, False, False]
        distill(g.store, g.embedder, rebuild=True)
        assert marked() == [False, True, True]  # the memory read before is read again


def test_another_tasks_precedent_this_task_tried_without_progress_is_varied(tmp_path, model):
    # The violet run poured yellow second, as the green runs did, and its score stopped
    # there: the green runs' exact vote for the yellow pour becomes a vote for the given pour
    # that changes it least (red for yellow: one word), not for the nearest by embedding
    # (the yellow pour into another cup) nor for the yellow pour itself.
    stuck = episode("v", VIOLET, [(STUDIO, BLUE), (POURED, YELLOW), (POURED, "mix jug")],
                    False, rewards=[0.2, 0.2, 0.2])
    res, score = _paints(tmp_path, model, [stuck])
    assert res.next[0].action == RED
    assert score[RED] - score[YELLOW] >= 0.5


@pytest.mark.parametrize("rewards", [[0.2, 0.3, 0.3], None], ids=["gained", "no rewards"])
def test_a_failed_run_that_gained_there_or_reported_nothing_leaves_the_precedent(
        tmp_path, model, rewards):
    # Its yellow pour raised the score (or nothing says it did not): the precedent stands.
    failed = episode("v", VIOLET, [(STUDIO, BLUE), (POURED, YELLOW), (POURED, "mix jug")],
                     False, rewards=rewards)
    res, score = _paints(tmp_path, model, [failed])
    takes_whole_vote(res, score, YELLOW, RED)


def test_what_a_failed_run_tried_is_read_as_it_wrote_it(tmp_path, model):
    # The violet run mixed blue and yellow where its score stopped. This episode poured red
    # where that run poured yellow, so the run's mix, read after this episode's objects
    # (`Analogy.cast`), would be the blue-and-red mix; but that was never tried: the green
    # runs' mix (the same reading) keeps its exact vote.
    nothing, into_blue = ("pour cup containing blue paint into cup containing nothing",
                          "pour cup containing {} paint into cup containing blue paint")
    mix = "mix cup containing blue paint and {} paint"
    steps = [(STUDIO, nothing), (POURED, into_blue.format("yellow")),
             (POURED, mix.format("yellow"))]
    given = [mix.format("red"), "mix cup containing blue paint", "mix cup containing red paint"]
    with ExperienceGraph(tmp_path / "c.db", embedder=model) as g:
        g.ingest([episode(f"g{i}", GREEN, steps, True, rewards=[0.2, 0.5, 0.7])
                  for i in range(2)]
                 + [episode("v", VIOLET, steps, False, rewards=[0.2, 0.2, 0.2])])
        res, score = ranked(g, POURED, VIOLET, given,
                            history=[nothing, into_blue.format("red")])
    takes_whole_vote(res, score, given[0], given[1])


def test_what_was_tried_in_one_room_is_tried_in_another_up_to_incidental_words(tmp_path, model):
    # The green runs poured the blue first, one into the jug of its room, one into the bowl
    # of its: `jug` and `bowl` are incidental (not every run's), `blue` is what the step
    # chooses. The violet run poured the blue into its jug with no gain: in a room with a bowl,
    # the blue pour into the bowl was tried too, and the green runs' vote goes to another
    # paint into the bowl.
    looked = "You look around the art studio."
    jug, bowl = BLUE, "pour cup containing blue paint into bowl"
    given = [bowl, "pour cup containing red paint into bowl",
             "pour bowl into cup containing red paint"]
    with ExperienceGraph(tmp_path / "i.db", embedder=model) as g:
        g.ingest([episode("gj", GREEN, [(STUDIO, "look around"), (looked, jug)], True,
                          rewards=[0.2, 0.5]),
                  episode("gb", GREEN, [(STUDIO, "look around"), (looked, bowl)], True,
                          rewards=[0.2, 0.5]),
                  episode("v", VIOLET, [(STUDIO, "look around"), (looked, jug)], False,
                          rewards=[0.2, 0.2])])
        res, score = ranked(g, looked, VIOLET, given, history=["look around"])
    assert res.next[0].action == given[1]
    assert score[given[1]] - score[bowl] >= 0.25
