"""`suggest` on a small ingested shop whose right answers are known, and the template rule it
names actions by."""

from __future__ import annotations

import numpy as np
import pytest

from expgraph.graph import ExperienceGraph
from expgraph.memory.features import Probe, candidate_rows
from expgraph.memory.index import step_memory
from expgraph.memory.model import DEFAULT_NEXT, _episode_folds, fit, load_model, training_probes
from expgraph.models import ActionCall, Episode
from expgraph.store import SQLiteStore
from expgraph.templates import learn_constants, template
from queries.schema import SuggestResult

PRODUCTS = [("red mug", "B0RED11111"), ("blue kettle", "B0BLU22222"),
            ("green lamp", "B0GRN33333"), ("black chair", "B0BLK44444"),
            ("white desk", "B0WHT55555"), ("grey sofa", "B0GRY66666")]


def _search(p: str) -> str:
    return f"WebShop Instruction: i need a {p}, price lower than 50 dollars [Search]"


def _results(p: str, pid: str) -> str:
    return (f"[Back to Search] Page 1 (Total results: 50) [Next >] [{pid}] {p.title()} "
            f"deluxe edition $19.99 [B0ZZZ99999] Something else $5.00")


def _item(p: str) -> str:
    return f"[Back to Search] [< Prev] {p.title()} deluxe edition Price: $19.99 [Buy Now]"


def shop_episodes() -> list[Episode]:
    """Six successful runs (search, open the product, buy) and three failed ones that page
    forward from the results page until they give up."""
    eps = []
    for i, (p, pid) in enumerate(PRODUCTS):
        eps.append(Episode(id=f"ok{i}", task=f"buy a {p}", outcome={"success": True}, steps=[
            {"observation": _search(p), "action": {"name": "search", "arguments": {"query": p}}},
            {"observation": _results(p, pid),
             "action": {"name": "click", "arguments": {"item": pid}}},
            {"observation": _item(p), "action": {"name": "click", "arguments": {"item": "Buy Now"}},
             "result": "Thank you for shopping"}]))
    for i, (p, pid) in enumerate(PRODUCTS[:3]):
        eps.append(Episode(id=f"bad{i}", task=f"buy a cheap {p}", outcome={"success": False},
                           steps=[
            {"observation": _search(p), "action": {"name": "search", "arguments": {"query": p}}},
            {"observation": _results(p, pid),
             "action": {"name": "click", "arguments": {"item": "Next >"}}},
            {"observation": _results(p, pid).replace("Page 1", "Page 2"),
             "action": {"name": "click", "arguments": {"item": "Next >"}},
             "result": "no more results"}]))
    return eps


@pytest.fixture(scope="module")
def shop(tmp_path_factory, model):
    g = ExperienceGraph(store=SQLiteStore(tmp_path_factory.mktemp("shop") / "s.db"),
                        embedder=model)
    g.ingest(shop_episodes())
    g.refine()
    yield g
    g.close()


def test_after_a_search_on_a_results_page_open_the_product(shop):
    res = shop.suggest(_results("yellow toaster", "B0YEL77777"), task="buy a yellow toaster",
                       history=["search[yellow toaster]"])
    assert res.next[0].action == "click[<item>]"
    assert res.next[0].support > 0
    assert SuggestResult.model_validate(res.model_dump(mode="json")) == res


def test_on_the_search_page_with_no_history_search(shop):
    res = shop.suggest(_search("yellow toaster"), task="buy a yellow toaster")
    assert res.next[0].action == "search[<query>]"
    assert res.avoid == []  # nobody failed by searching


def test_history_conditions_the_next_action(shop):
    # the same item page: after opening the product comes the purchase
    res = shop.suggest(_item("yellow toaster"), task="buy a yellow toaster",
                       history=["search[yellow toaster]", "click[B0YEL77777]"])
    assert res.next[0].action == "click[buy now]"


def test_what_only_failed_runs_did_here_is_avoided(shop):
    res = shop.suggest(_results("yellow toaster", "B0YEL77777"), task="buy a yellow toaster",
                       history=["search[yellow toaster]"], explain=True)
    assert [a.action for a in res.avoid] == ["click[next >]"]
    assert res.avoid[0].explain and res.avoid[0].explain["risk_knn"] > 0
    assert "click[next >]" not in [n.action for n in res.next[:1]]


def test_grounded_arguments_prefer_values_in_the_current_state(shop):
    # the state shows B0BLU22222, which one successful run clicked: it is grounded first
    state = _results("blue kettle", "B0BLU22222")
    res = shop.suggest(state, task="buy a blue kettle", history=["search[blue kettle]"])
    top = res.next[0]
    assert top.action == "click[<item>]"
    assert top.grounded[0] == "click[B0BLU22222]"
    assert top.arguments == {"item": "B0BLU22222"}


def test_candidates_are_ranked_exactly_and_risky_ones_flagged(shop):
    state = _results("blue kettle", "B0BLU22222")
    given = ["click[Next >]", "click[B0ZZZ99999]", "click[B0BLU22222]", "search[kettle]"]
    res = shop.suggest(state, task="buy a blue kettle", history=["search[blue kettle]"],
                       candidates=given, k=10)
    assert sorted(n.action for n in res.next) == sorted(given)
    assert res.next[0].action == "click[B0BLU22222]"  # the product a successful run opened
    assert res.next[0].template == "click[<item>]"
    assert [a.action for a in res.avoid] == ["click[Next >]"]


def test_explain_shows_each_feature_contribution(shop):
    res = shop.suggest(_search("yellow toaster"), task="buy a yellow toaster", explain=True)
    contrib = res.next[0].explain
    model = load_model(shop.store)
    assert contrib and set(contrib) <= set(model.next.names)
    # contributions add up to the model's score (before the sigmoid)
    import math
    logit = sum(contrib.values()) + model.next.bias
    assert res.next[0].score == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-4)


def test_the_model_never_sees_its_own_episode(shop):
    mem = step_memory(shop.store, shop.embedder)
    a = mem.arrays
    for i, probe in training_probes(mem):
        rows = candidate_rows(mem, probe)
        own = a["episode"] == probe.exclude_episode
        # no neighbour used for the answer comes from the step's own episode
        assert not own[rows.neighbours].any()
        assert i in set(range(len(mem)))


def test_a_training_step_is_scored_without_its_fold_of_episodes(shop):
    mem = step_memory(shop.store, shop.embedder)
    a = mem.arrays
    fold = _episode_folds(a["episode"])
    for e in np.unique(a["episode"]):  # an episode's steps share one fold
        assert len(set(fold[a["episode"] == e].tolist())) == 1
    assert len(set(fold.tolist())) > 1  # the shop's episodes are spread over folds
    for i, probe in training_probes(mem):
        assert probe.hide is not None and probe.hide[i]
        assert (probe.hide == (fold == fold[i])).all()
        rows = candidate_rows(mem, probe)
        assert not probe.hide[rows.neighbours].any()
    # the fold shares its steps' hash, nothing else: episode 7's fold is the same in any store
    assert _episode_folds(np.array([7]))[0] == _episode_folds(np.array([3, 7, 1]))[1]


def test_a_step_alone_in_its_action_is_not_proposed_when_its_episode_is_hidden(tmp_path, model):
    eps = shop_episodes()
    eps[0].steps[2].action = ActionCall(name="gift_wrap")  # only ok0 ever did this
    g = ExperienceGraph(store=SQLiteStore(tmp_path / "g.db"), embedder=model)
    g.ingest(eps)
    mem = step_memory(g.store, g.embedder)
    a = mem.arrays
    wrap = mem.action_index["gift_wrap"]
    i = next(j for j in range(len(mem)) if mem.label[j] == wrap)
    probe = Probe(new=a["new"][i], win=a["win"][i], task=None, history=[-3, -3],
                  exclude_episode=int(a["episode"][i]))
    assert wrap not in candidate_rows(mem, probe).candidates
    # ... and with its episode visible, the nearest step's action is proposed
    probe.exclude_episode = -1
    assert wrap in candidate_rows(mem, probe).candidates
    g.close()


def test_fit_is_deterministic_and_small_stores_keep_the_fixed_fusion(shop, tmp_path, model):
    mem = step_memory(shop.store, shop.embedder)
    assert fit(mem).to_json() == fit(mem).to_json()
    tiny = ExperienceGraph(store=SQLiteStore(tmp_path / "t.db"), embedder=model)
    tiny.ingest(shop_episodes()[:2])
    m = fit(step_memory(tiny.store, tiny.embedder))
    assert m.trained_on == 0
    assert dict(zip(m.next.names, m.next.coef, strict=True))["knn_newest"] == \
        DEFAULT_NEXT["knn_newest"]
    tiny.close()


def test_suggest_on_an_empty_store_is_empty(store, embedder):
    g = ExperienceGraph(store=store, embedder=embedder)
    res = g.suggest("anything at all")
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


def test_suggest_answers_the_same_on_every_backend(backend_store, embedder, tmp_path):
    """The same episodes on SQLite and on a Bolt server: the same step memory, the same
    fitted models, the same answers."""
    answers = []
    for store in (SQLiteStore(tmp_path / "ref.db"), backend_store):
        g = ExperienceGraph(store=store, embedder=embedder.inner)
        g.ingest(shop_episodes())
        g.refine(passes=["advice"])
        res = g.suggest(_results("blue kettle", "B0BLU22222"), task="buy a blue kettle",
                        history=["search[blue kettle]"])
        answers.append(([(n.action, round(n.score, 4), n.grounded) for n in res.next],
                        [a.action for a in res.avoid]))
    assert answers[0] == answers[1]
    assert answers[0][0][0][0] == "click[<item>]"


def test_risk_sequence_is_the_failed_share_after_the_same_two_actions(shop):
    from expgraph.memory.features import RISK_FEATURES

    mem = step_memory(shop.store, shop.embedder)
    a = mem.arrays
    item, page = mem.action_index["click[<item>]"], mem.action_index["click[next >]"]
    ok = next(i for i in range(len(mem)) if a["label"][i] == item)
    # on a results page after a search (nothing before it): six successful runs opened the
    # product, three failed runs paged forward (their episodes name no errored step and no
    # success paged forward there, so those steps count as failing)
    probe = Probe(new=a["new"][ok], win=a["win"][ok], task=None, history=[int(a["prev1"][ok])],
                  history_templates=[mem.actions[int(a["prev1"][ok])]])
    rows = candidate_rows(mem, probe, include=[item, page])
    col = RISK_FEATURES.index("risk_sequence")
    risk = {c: rows.risk_x[r, col] for r, c in enumerate(rows.candidates)}
    assert risk[page] == pytest.approx(3 / (3 + 1))  # 3 failing of 3, smoothed by one
    assert risk[item] == 0.0


def test_repeat_marks_the_previous_action_and_mentions_read_the_thought(shop):
    from expgraph.memory.features import NEXT_FEATURES

    mem = step_memory(shop.store, shop.embedder)
    a = mem.arrays
    item, buy = mem.action_index["click[<item>]"], mem.action_index["click[buy now]"]
    i = next(j for j in range(len(mem)) if a["label"][j] == buy)
    probe = Probe(new=a["new"][i], win=a["win"][i], task=None, history=[item],
                  history_templates=["click[<item>]"],
                  history_text="think[the price is right, buy now]", task_text="buy a red mug")
    rows = candidate_rows(mem, probe, include=[item, buy])
    x = {c: rows.next_x[r] for r, c in enumerate(rows.candidates)}
    rep, said, task = (NEXT_FEATURES.index(n) for n in ("repeat", "mention_history",
                                                        "mention_task"))
    assert (x[item][rep], x[buy][rep]) == (1.0, 0.0)
    # `click[buy now]` spells click, buy, now: the thought names buy and now, the task buy
    assert x[buy][said] == pytest.approx(2 / 3) and x[buy][task] == pytest.approx(1 / 3)
    assert x[item][said] == 0.0  # `click[<item>]` spells only click


PLAN = "think[For a red mug, the item has options 'large' and 'Matte Red' and seems good.]"


def test_a_plan_names_the_values_its_agent_takes_one_by_one():
    from expgraph.memory.features import latest_plan

    assert latest_plan(["search[red mug]", PLAN]) == (["large", "Matte Red"], [])
    assert latest_plan([PLAN, "click[large]"]) == (["large", "Matte Red"], ["click[large]"])
    # an argument that is one quoted value is no plan; an apostrophe opens no quote
    assert latest_plan(['search["red mug"]', "click[B0RED11111]"]) == ([], [])
    assert latest_plan(["think[a men's mug in 'red' is fine]"]) == (["red"], [])
    assert latest_plan(["get_order_details", "search[red mug]"]) == ([], [])


def test_plan_votes_for_the_untaken_values_then_against_the_done_plan(shop):
    from expgraph.memory.features import NEXT_FEATURES, plan_votes

    mem = step_memory(shop.store, shop.embedder)
    item, buy, search = (mem.action_index[t] for t in
                         ("click[<item>]", "click[buy now]", "search[<query>]"))
    cands = [item, buy, search]
    # nothing taken yet: which action takes the values is not known
    assert plan_votes(mem, ["search[red mug]", PLAN], cands) == {}
    # a click took 'large': a click takes 'matte red' next
    assert plan_votes(mem, [PLAN, "click[large]"], cands) == {item: 1.0}
    # every value taken: the plan is done, clicking another value is less likely
    assert plan_votes(mem, [PLAN, "click[large]", "click[Matte Red]"], cands) == {item: -1.0}
    assert plan_votes(mem, ["search[red mug]"], cands) == {}
    # the feature row carries it
    a = mem.arrays
    i = next(j for j in range(len(mem)) if a["label"][j] == buy)
    probe = Probe(new=a["new"][i], win=a["win"][i], task=None, history=[item],
                  history_templates=["click[<item>]"], history_raw=[PLAN, "click[large]"])
    rows = candidate_rows(mem, probe, include=[item, buy])
    x = {c: rows.next_x[r] for r, c in enumerate(rows.candidates)}
    col = NEXT_FEATURES.index("plan")
    assert (x[item][col], x[buy][col]) == (1.0, 0.0)


def test_a_training_step_sees_its_episode_s_earlier_actions_as_written(shop):
    mem = step_memory(shop.store, shop.embedder)
    a = mem.arrays
    probes = dict(training_probes(mem))
    red = mem.task_index["buy a red mug"]  # one successful run: search, open, buy
    steps = sorted((j for j in range(len(mem)) if a["task"][j] == red),
                   key=lambda j: a["position"][j])
    assert [probes[j].history_raw for j in steps] == [
        [], ["search[red mug]"], ["search[red mug]", "click[<id>]"]]


def test_a_pending_value_of_another_kind_votes_more_than_one_of_the_kind_taken(shop):
    from expgraph.memory.features import plan_votes

    mem = step_memory(shop.store, shop.embedder)
    item = mem.action_index["click[<item>]"]

    def vote(plan: str) -> float:
        return plan_votes(mem, [plan, "click[large]"], [item], shop.embedder.embed)[item]

    same_kind = vote("think[the item has options 'large' and 'x-large' and seems good]")
    other_kind = vote("think[the item has options 'large' and 'matte red' and seems good]")
    # 'x-large' is of the kind 'large' took (cosine >= SAME_KIND), 'matte red' is not
    assert (same_kind, other_kind) == (-1.0, 1.0)


def test_suggest_grounds_a_template_in_the_plan_s_untaken_value(shop):
    res = shop.suggest(_item("red mug"), task="buy a red mug", k=10,
                       history=["search[red mug]", "click[B0RED11111]", PLAN, "click[large]"])
    item = next(n for n in res.next if n.action == "click[<item>]")
    assert item.grounded[0] == "click[Matte Red]"
    assert item.arguments == {"item": "Matte Red"}


def _memory_of_one_run(path, model, acts):
    """The step memory of a store holding one successful run of `acts` ((name, arguments,
    as written) each, on pages 0, 1, ...)."""
    ep = Episode(id="e1", task="buy a red mug", outcome={"success": True}, steps=[
        {"observation": f"page {i}", "action": {"name": n, "arguments": a, "raw": r}}
        for i, (n, a, r) in enumerate(acts)])
    with ExperienceGraph(store=SQLiteStore(path), embedder=model) as g:
        g.ingest([ep])
        return step_memory(g.store, g.embedder)


def test_a_training_step_reads_its_episode_s_thoughts_in_full(tmp_path, model):
    thought = ("think[For a red mug in a large size, a mug that is dishwasher safe and under "
               "20 dollars, the item has options 'red' and 'large'.]")
    steps = [("search", {"query": "red mug"}, "search[red mug]"),
             ("think", {"thought": thought[6:-1]}, thought),
             ("click", {"item": "red"}, "click[red]")]
    mem = _memory_of_one_run(tmp_path / "t.db", model, steps)
    probes = dict(training_probes(mem))
    last = next(j for j in range(len(mem)) if mem.arrays["position"][j] == 2)
    # the thought as written (a key would cut it at 80 characters, before its values)
    assert probes[last].history_raw == ["search[red mug]", thought]


def test_plan_status_says_where_the_episode_stands_in_its_plan(tmp_path, model):
    from expgraph.memory.features import (
        NO_PLAN,
        PLAN_DONE,
        PLAN_PENDING,
        PLANNED_NONE_TAKEN,
        plan_status,
        step_plan_status,
    )

    plan = "think[the item has options 'red' and 'large']"
    assert plan_status([]) == NO_PLAN
    assert plan_status(["search[red mug]", "click[red]"]) == NO_PLAN
    assert plan_status(["search[red mug]", plan]) == PLANNED_NONE_TAKEN
    assert plan_status([plan, "click[Red]"]) == PLAN_PENDING  # values match in any case
    assert plan_status([plan, "click[red]", "click[large]"]) == PLAN_DONE
    # a stored step reads its episode's earlier actions as written
    acts = [("search", {"query": "red mug"}, "search[red mug]"),
            ("think", {"thought": plan[6:-1]}, plan), ("click", {"item": "red"}, "click[red]"),
            ("click", {"item": "large"}, "click[large]"),
            ("click", {"item": "Buy Now"}, "click[Buy Now]")]
    mem = _memory_of_one_run(tmp_path / "t.db", model, acts)
    order = np.argsort(mem.arrays["position"])
    assert step_plan_status(mem, order).tolist() == [
        NO_PLAN, NO_PLAN, PLANNED_NONE_TAKEN, PLAN_PENDING, PLAN_DONE]


def test_each_step_remembers_its_previous_action_as_written(tmp_path, model):
    from expgraph.memory.index import build_memory
    from expgraph.memory.records import said_texts

    # a text call as written, a tool call by its key, nothing before the first step
    assert said_texts([{"raw": "think[The item is good to buy.]", "key": "think[<t>]"},
                       {"raw": None, "key": "get_order_details"}, {"key": "x"}]) == [
        "", "think[The item is good to buy.]", "get_order_details"]
    good = "think[The item is good to buy.]"
    ep = Episode(id="e1", task="buy a red mug", outcome={"success": True}, steps=[
        {"observation": "a red mug page",
         "action": {"name": "think", "arguments": {"t": good[6:-1]}, "raw": good}},
        {"observation": "a red mug page",
         "action": {"name": "click", "arguments": {"item": "Buy Now"}, "raw": "click[Buy Now]"}}])
    with ExperienceGraph(store=SQLiteStore(tmp_path / "t.db"), embedder=model) as g:
        step_memory(g.store, g.embedder)  # built before the ingest: the ingest appends to it
        g.ingest([ep])
        mem = step_memory(g.store, g.embedder)
        rebuilt = build_memory(g.store, g.embedder)
    said = mem.arrays["said"][np.argsort(mem.arrays["position"])]
    assert not said[0].any()  # the first step has no previous action
    assert np.allclose(said[1], model.embed([good])[0], atol=1e-6)
    # what the ingest appended is what a rebuild from the store reads
    assert np.allclose(rebuilt.arrays["said"][np.argsort(rebuilt.arrays["position"])], said,
                       atol=1e-6)


def test_knn_said_votes_for_what_followed_the_nearest_previous_actions_as_written(shop):
    from expgraph.memory.features import NEXT_FEATURES

    mem = step_memory(shop.store, shop.embedder)
    a = mem.arrays
    buy = mem.action_index["click[buy now]"]
    item = mem.action_index["click[<item>]"]
    col = NEXT_FEATURES.index("knn_said")
    i = next(j for j in range(len(mem)) if a["label"][j] == buy)
    # every buy in the shop came after a click on a product id, every product click after a
    # search: the previous action as written decides between them on the same page
    after_click, after_search = (
        candidate_rows(mem, Probe(new=a["new"][i], win=a["win"][i], task=None,
                                  said=shop.embedder.embed([prev])[0]), include=[item, buy])
        for prev in ("click[B0PUR88888]", "search[purple vase]"))
    x = {c: after_click.next_x[r][col] for r, c in enumerate(after_click.candidates)}
    y = {c: after_search.next_x[r][col] for r, c in enumerate(after_search.candidates)}
    assert x[buy] > x[item] and y[item] > y[buy]
    # no history, no vote
    none = candidate_rows(mem, Probe(new=a["new"][i], win=a["win"][i], task=None))
    assert not none.next_x[:, col].any()


def test_the_plan_point_reads_statuses_nearest_first_and_picks_the_same_neighbours(tmp_path,
                                                                                      model):
    from expgraph.memory.features import _at_point, step_plan_status
    from expgraph.memory.sources import top_k

    plan = "think[the item has options 'red' and 'large']"
    mem = _memory_of_one_run(tmp_path / "t.db", model, [
        ("search", {"query": "red mug"}, "search[red mug]"),
        ("think", {"thought": plan[6:-1]}, plan), ("click", {"item": "red"}, "click[red]"),
        ("click", {"item": "large"}, "click[large]"),
        ("click", {"item": "Buy Now"}, "click[Buy Now]")])
    steps = np.arange(len(mem))
    rng = np.random.default_rng(0)
    for sims in (rng.random(len(mem)), np.asarray([0.5, 0.5, 0.9, 0.5, 0.5])):  # ties too
        pool = np.ones(len(mem), bool)
        for status in range(4):
            full = step_plan_status(mem, steps) == status
            for k in (1, 2, 3):
                fast = _at_point(mem, steps, sims, pool, status, k, chunk=1)
                assert top_k(sims, fast, k).tolist() == top_k(sims, full, k).tolist()
