"""`suggest` on the small shop graph, its pure parts, and the template rule it names actions by."""

from __future__ import annotations

import pytest
from test_retrieval_query import ITEM_OBS, RESULTS_OBS, SEARCH_OBS, TASK, build_shop_graph

from expgraph.models import EdgeRecord, Rel
from expgraph.scoring import wilson_lower_bound
from expgraph.templates import learn_constants, template
from queries.corpus import Item, TransitionStats
from queries.retrieval import Ranked, query
from queries.schema import Signals, SuggestResult
from queries.suggest import (
    error_scores,
    next_in_sequence,
    skill_next_actions,
    suggest,
    transition_scores,
)


@pytest.fixture
def shop(store, embedder):
    return store, embedder, build_shop_graph(store, embedder)


def test_next_in_sequence_aligns_history_with_the_skill():
    seq = ["search[<query>]", "click[<item>]", "click[<item>]", "click[buy now]"]
    assert next_in_sequence(seq, []) == "search[<query>]"
    assert next_in_sequence(seq, ["think[<thought>]"]) == "search[<query>]"  # not begun
    assert next_in_sequence(seq, ["search[<query>]"]) == "click[<item>]"
    # the longest history suffix wins: two clicks after a search -> buy
    assert next_in_sequence(seq, ["search[<query>]", "click[<item>]", "click[<item>]"]) == \
        "click[buy now]"
    # a single click matches earliest: the second click comes next
    assert next_in_sequence(seq, ["reset", "click[<item>]"]) == "click[<item>]"
    assert next_in_sequence(seq, [*seq]) is None  # done
    assert next_in_sequence([], ["x"]) is None


def test_transition_scores_mix_states_and_credit_successes():
    here = {"click[<item>]": TransitionStats(6, 5, 0), "click[next >]": TransitionStats(2, 0, 0)}
    near = {"click[next >]": TransitionStats(10, 2, 0)}
    scores, support = transition_scores([(1.0, here), (0.1, near)], success_weight=1.0)
    assert scores["click[<item>]"] > scores["click[next >]"]
    assert support == {"click[<item>]": 6, "click[next >]": 12}
    plain, _ = transition_scores([(1.0, here)], success_weight=0.0)
    # plain frequency 6/8 and 2/8, each scaled by 1 + its Wilson lower bound
    assert plain["click[next >]"] == pytest.approx(2 / 8)
    assert plain["click[<item>]"] > 6 / 8


def test_error_scores_use_the_wilson_bound_of_the_error_rate():
    stats = {"click[<item>]": TransitionStats(20, 5, 10), "click[next >]": TransitionStats(50, 20, 1),
             "search[<query>]": TransitionStats(5, 5, 0)}
    got = error_scores([(0.5, stats)])
    assert set(got) == {"click[<item>]", "click[next >]"}
    assert got["click[<item>]"] == pytest.approx(0.5 * wilson_lower_bound(10, 20))
    assert got["click[next >]"] < 0.01  # one error in fifty is no warning


def _ranked(i: str, actions: list[str], score: float, tier: str = "functional") -> Ranked:
    item = Item(id=i, kind="skill", tier=tier, name=i, description="", actions=actions,
                avoid=[], status="active", utility=0.5, severity=0, episodes=3, successes=2,
                failures=1, text=i)
    return Ranked(item, score, Signals())


def test_skills_vote_for_their_next_action():
    ranked = [_ranked("buy", ["click[<item>]", "click[buy now]"], 0.5),
              _ranked("open", ["click[<item>]"], 0.25, "atomic"),
              _ranked("done", ["click[buy now]", "click[< prev]"], 0.1)]
    scores, skills, _ = skill_next_actions(ranked, ["click[<item>]"])
    assert scores == pytest.approx({"click[buy now]": 0.6, "click[<item>]": 0.25})
    assert skills == {"click[buy now]": ["buy", "done"], "click[<item>]": ["open"]}


def test_suggest_on_the_results_page_names_what_worked_and_what_to_avoid(shop):
    store, emb, ids = shop
    res = suggest(store, emb, RESULTS_OBS, task=TASK, k=5)
    assert res.next[0].action == "click[<item>]"
    assert res.next[0].support == 6
    assert ids["k_open"] in res.next[0].skills
    assert "click[next >]" in [n.action for n in res.next]
    avoid = {a.action: a for a in res.avoid}
    assert set(avoid) == {"click[add to cart]", "click[buy now]"}
    assert avoid["click[add to cart]"].guardrails == [ids["g_cart"]]
    assert avoid["click[buy now]"].guardrails == [ids["g_buy"]]
    assert SuggestResult.model_validate(res.model_dump(mode="json")) == res


def test_suggest_on_the_search_page_suggests_a_search(shop):
    store, emb, ids = shop
    res = suggest(store, emb, SEARCH_OBS.replace("red ceramic mug", "pair of hiking boots"),
                  task="i need hiking boots")
    assert res.next[0].action == "search[<query>]"
    assert res.next[0].support == 5  # two distinct queries, one template
    assert res.avoid == []


def test_history_moves_a_functional_skill_forward(shop):
    store, emb, ids = shop
    done_two = ["search[red mug]", "click[B07XYZ1234]", "click[Red]"]  # raw actions
    res = suggest(store, emb, ITEM_OBS, task=TASK, history=done_two, k=5)
    by_action = {n.action: n for n in res.next}
    assert ids["k_buy"] in by_action["click[buy now]"].skills
    res = suggest(store, emb, ITEM_OBS, task=TASK, history=["search[red mug]"], k=5)
    assert ids["k_buy"] in {s for n in res.next if n.action == "click[<item>]" for s in n.skills}
    assert res.query.history == ["search[red mug]"]


def test_actions_that_errored_here_are_avoided_without_a_guardrail(shop):
    store, emb, ids = shop
    store.upsert_edges([EdgeRecord(src=ids["s_search"], dst=ids["s_search"], type=Rel.TRANSITION,
                                   key="click[add to cart]", props={
                                       "action": "click[add to cart]", "name": "click",
                                       "count": 6, "successes": 0, "errors": 6})])
    res = suggest(store, emb, SEARCH_OBS, task=TASK)
    assert [(a.action, a.guardrails) for a in res.avoid] == [("click[add to cart]", [])]
    assert res.avoid[0].score == pytest.approx(wilson_lower_bound(6, 6), abs=1e-5)


def test_dense_preset_suggests_from_skills_only(shop):
    store, emb, ids = shop
    res = suggest(store, emb, RESULTS_OBS, preset="dense", k=10)
    assert all(n.skills for n in res.next)  # no transition-only actions
    graph = suggest(store, emb, RESULTS_OBS, preset="graph", k=10)
    assert graph.next[0].action == "click[<item>]"


def test_suggest_on_an_empty_store_is_empty(store, embedder):
    res = suggest(store, embedder, "anything at all")
    assert res.next == [] and res.avoid == []


# ----------------------------------------------------------------------------- templates


def test_recurring_arguments_are_constants_and_one_off_arguments_slots():
    uses = [(f"ep{i}", "click[buy now]") for i in range(5)]
    uses += [(f"ep{i}", f"search[query number {i}]") for i in range(5)]
    uses += [("ep0", "click[b07xyz1234]"), ("ep1", "click[<id>]"), ("ep2", "click[next >]")]
    consts = learn_constants(uses)
    assert consts == {"click": {"buy now"}}
    assert template("click[buy now]", consts) == "click[buy now]"
    assert template("click[next >]", consts) == "click[<item>]"  # seen in one episode only
    assert template("click[<id>]", consts) == "click[<item>]"
    assert template("search[query number 3]", consts) == "search[<query>]"
    assert template("get_order", consts) == "get_order"
    # a template stays itself: templates of templates are stable
    assert template("search[<query>]", consts) == "search[<query>]"


def test_a_value_needs_enough_episodes_to_become_a_constant():
    few = [("a", "click[back to search]"), ("b", "click[back to search]")]
    assert learn_constants(few) == {}
    assert learn_constants([*few, ("c", "click[back to search]")]) == {
        "click": {"back to search"}}
    # repeated within one episode it is still one episode
    assert learn_constants([("a", "click[back to search]")] * 10) == {}


def test_a_button_label_with_a_less_than_sign_can_be_a_constant_but_a_slot_cannot():
    uses = [(e, "click[< prev]") for e in "abc"] + [(e, "click[<id>]") for e in "abc"]
    consts = learn_constants(uses)
    assert consts == {"click": {"< prev"}}
    assert template("click[< prev]", consts) == "click[< prev]"


def test_suggest_and_query_agree_on_every_backend(backend_store, embedder):
    """The same graph on SQLite and on a Bolt server gives the same answers."""
    ids = build_shop_graph(backend_store, embedder)
    res = suggest(backend_store, embedder, RESULTS_OBS, task=TASK, k=5)
    assert res.next[0].action == "click[<item>]" and res.next[0].support == 6
    assert {a.action for a in res.avoid} == {"click[add to cart]", "click[buy now]"}
    top = query(backend_store, embedder, RESULTS_OBS, preset="graph", k=4)
    assert {r.id for r in top.results} == {ids["k_open"], ids["k_next"], ids["g_cart"],
                                           ids["g_buy"]}
