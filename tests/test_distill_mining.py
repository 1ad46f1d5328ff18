"""Distillation on small hand-made shop episodes whose answers are known."""

from __future__ import annotations

import pytest

from expgraph.actions import text_action
from expgraph.distill import distill
from expgraph.distill.corpus import error_signal
from expgraph.distill.skills import closed_sequences, parameters
from expgraph.embedder import CachedEmbedder
from expgraph.models import Episode, Label, Outcome, Rel, Step, TaskNode
from expgraph.store import SQLiteStore
from ingestion.pipeline import Ingestor

SEARCH_PAGE = "WebShop\nInstruction:\n{task}\n[Search]"
RESULTS = ("[Back to Search]\nPage 1 (Total results: {n})\n[Next >]\n[{a}]\n{title}, 12 oz\n"
           "${p}\n[{b}]\nAnother product with a long descriptive title here\n$19.99")
ITEM = ("[Back to Search]\n[< Prev]\n{title}\nPrice: ${p}\nRating: N.A.\n[Description]\n"
        "[Features]\n[Reviews]\n[Buy Now]")
SCORE = "Your score (min 0.0, max 1.0): {s}"


def shop_episode(task: str, query: str, item: str, title: str, success: bool,
                 buy_from_results: bool = False) -> Episode:
    """search -> click item -> buy; or (a failing run) search -> buy straight from results."""
    results = RESULTS.format(n=len(query), a=item, b=item[::-1], title=title, p=len(title))
    steps = [Step(observation=SEARCH_PAGE.format(task=task), action=text_action(f"search[{query}]"),
                  result=results)]
    if buy_from_results:
        steps.append(Step(observation=results, action=text_action("click[Buy Now]"),
                          result="Invalid action!", error=True))
    else:
        page = ITEM.format(title=title, p=len(title))
        steps += [Step(observation=results, action=text_action(f"click[{item}]"), result=page),
                  Step(observation=page, action=text_action("think[this is the one]"),
                       result="OK."),
                  Step(observation="OK.", action=text_action("click[Buy Now]"),
                       result=SCORE.format(s=1.0 if success else 0.5))]
    return Episode(agent="shop", task=task, steps=steps,
                   outcome=Outcome(success=success, reward=1.0 if success else 0.0))


def corpus() -> list[Episode]:
    return [
        shop_episode("buy a red mug under 20 dollars", "red mug", "B0AAAA1111",
                     "Red ceramic coffee mug with a big handle", True),
        shop_episode("i want warm blue wool socks", "blue wool socks", "B0CCCC3333",
                     "Warm wool socks for men in navy blue color", True),
        shop_episode("find a green tea kettle", "green kettle", "B0DDDD5555",
                     "Green enamel tea kettle for the stove top", False, buy_from_results=True),
        shop_episode("a pack of white candles", "white candles", "B0EEEE7777",
                     "White unscented pillar candles pack of six", False, buy_from_results=True),
    ]


def ingest(store: SQLiteStore, embedder: CachedEmbedder, episodes: list[Episode]) -> list[str]:
    report = Ingestor(store, CachedEmbedder(embedder.inner, store)).ingest(episodes)
    return report.episode_ids


@pytest.fixture
def mined(store, embedder):
    ids = ingest(store, embedder, corpus())
    report = distill(store, CachedEmbedder(embedder.inner, store), episode_ids=ids)
    return store, report


def skills(store, tier: str) -> list:
    return [r for r in store.find_nodes(Label.SKILL) if r.props["tier"] == tier]


def test_shared_three_action_sequence_becomes_one_functional_skill_with_support_two(mined):
    store, _ = mined
    functional = skills(store, "functional")
    assert [r.props["actions"] for r in functional] == [
        ["search[<query>]", "click[<item>]", "click[buy now]"]]
    sk = functional[0].props
    assert (sk["support"], sk["successes"], sk["failures"]) == (2, 2, 0)
    assert sk["parameters"] == ["query", "item"]
    assert sk["name"] == "search[<query>] -> click[<item>] -> click[buy now]"
    search_page = {e.dst for e in store.edges(Rel.VISITS) if e.key == "0"}
    assert set(sk["preconditions"]) == search_page  # starts on the search page
    order = sorted(store.edges(Rel.COMPOSED_OF, src=functional[0].id), key=lambda e: e.key)
    atomic = {r.id: r.props["actions"][0] for r in skills(store, "atomic")}
    assert [atomic[e.dst] for e in order] == sk["actions"]
    assert [e.props["order"] for e in order] == [0, 1, 2]


def test_atomic_skill_per_template_counts_successes_and_failures(mined):
    store, _ = mined
    atomic = {r.props["actions"][0]: r.props for r in skills(store, "atomic")}
    assert set(atomic) == {"search[<query>]", "click[<item>]", "click[buy now]"}  # no think
    buy = atomic["click[buy now]"]
    assert (buy["uses"], buy["successes"], buy["failures"], buy["support"]) == (4, 2, 2, 4)
    assert buy["examples"] == ["click[Buy Now]"]
    assert any("Invalid action!" in p for p in buy["pitfalls"])
    assert store.get_meta("action_constants") == {"click": ["buy now"]}


def test_failed_action_where_another_succeeded_yields_guardrail_naming_alternative(mined):
    store, _ = mined
    rails = store.find_nodes(Label.GUARDRAIL)
    assert len(rails) == 1
    g = rails[0].props
    assert g["forbidden"] == ["click[buy now]"]
    assert g["alternative"] == "click[<item>]"
    assert (g["failures"], g["total"]) == (2, 2)
    assert (g["alternative_successes"], g["alternative_total"]) == (2, 2)
    assert "do not click[buy now] (failed 2 of 2); click[<item>] succeeded 2 of 2" in g["rule"]
    assert "returned 'Invalid action!' 2 of 2 times" in g["root_cause"]
    assert 0 < g["severity"] <= 1
    guarded = {e.dst for e in store.edges(Rel.GUARDS, src=rails[0].id)}
    assert g["trigger_state"] in guarded
    buy_skill = [r.id for r in skills(store, "atomic") if r.props["actions"] == ["click[buy now]"]]
    assert buy_skill[0] in guarded
    prevented = store.get_nodes([e.dst for e in store.edges(Rel.PREVENTS, src=rails[0].id)])
    assert {(f.props["error_class"], f.props["action"]) for f in prevented} >= {
        ("error", "click[buy now]")}


def test_error_and_terminal_failures_link_state_action_and_episodes(mined):
    store, _ = mined
    fails = {(r.props["error_class"], r.props["action"]): r
             for r in store.find_nodes(Label.FAILURE)}
    err = fails[("error", "click[buy now]")]
    assert err.props["count"] == 2 and err.props["symptom"] == "Invalid action!"
    assert [e.dst for e in store.edges(Rel.OBSERVED_IN, src=err.id)] == [err.props["state_id"]]
    assert len(store.edges(Rel.OCCURRED_IN, src=err.id)) == 2
    assert len(store.edges(Rel.CAUSED_BY, src=err.id)) == 1
    assert ("terminal", "click[buy now]") in fails


def test_repeated_state_action_yields_loop_failure(store, embedder):
    results = RESULTS.format(n=50, a="B0AAAA1111", b="B0BBBB2222", title="Red mug", p=9)
    ep = Episode(task="buy a mug", outcome=Outcome(success=False), steps=[
        Step(observation=SEARCH_PAGE.format(task="buy a mug"), action=text_action("search[mug]"),
             result=results),
        Step(observation=results, action=text_action("click[Next >]"), result=results),
        Step(observation=results, action=text_action("click[Next >]"), result=results),
    ])
    ingest(store, embedder, [ep])
    distill(store, CachedEmbedder(embedder.inner, store))
    loops = [r.props for r in store.find_nodes(Label.FAILURE) if r.props["error_class"] == "loop"]
    assert len(loops) == 1 and loops[0]["count"] == 1
    assert loops[0]["action"] == "click[<item>]"
    visits = {int(e.key): e.dst for e in store.edges(Rel.VISITS)}
    assert loops[0]["state_id"] == visits[1]
    stagnant = [r.props for r in store.find_nodes(Label.FAILURE)
                if r.props["error_class"] == "stagnation"]
    assert [s["count"] for s in stagnant] == [2]  # the page text did not change either time


def test_masked_observations_from_different_episodes_merge_into_one_state(store, embedder):
    eps = [Episode(task=f"check order {n}", outcome=Outcome(success=True), steps=[
        Step(observation=f'Order {n} shipped to "{who}" on 2024-01-0{n}',
             action=text_action("finish[done]"), result="Done.")]) for n, who in
        ((1, "Alice"), (2, "Bob"))]
    ingest(store, embedder, eps)
    first = {e.src: e.dst for e in store.edges(Rel.VISITS) if e.key == "0"}
    assert len(set(first.values())) == 1
    state = store.get_node(next(iter(first.values())))
    assert state.props["member_count"] == 2
    assert state.props["signature"] == "order <num> shipped to <str> on <num> +"
    distill(store, CachedEmbedder(embedder.inner, store), rebuild=True)  # replay agrees
    again = {e.src: e.dst for e in store.edges(Rel.VISITS) if e.key == "0"}
    assert again == first
    assert store.get_node(state.id).props["member_count"] == 2


def _snapshot(store: SQLiteStore) -> dict:
    counts = ("support", "successes", "failures", "uses", "count", "total", "member_count",
              "cluster", "name", "actions", "forbidden", "alternative", "preconditions",
              "verification", "rule", "severity", "utility")
    nodes = {r.id: (r.label.value, r.text, {k: r.props.get(k) for k in counts})
             for label in Label for r in store.find_nodes(label) if label != Label.EPISODE}
    edges = sorted((e.src, e.type.value, e.dst, e.key, sorted(e.props.items()))
                   for e in store.edges())
    steps = {r.id: [(s["state"], s["next_state"]) for s in r.props["steps"]]
             for r in store.find_nodes(Label.EPISODE)}
    return {"nodes": nodes, "edges": edges, "steps": steps}


def test_online_increments_equal_offline_rebuild(tmp_path, embedder):
    eps = corpus()
    online = SQLiteStore(tmp_path / "online.db")
    for part in (eps[:2], eps[2:]):
        ids = ingest(online, embedder, part)
        distill(online, CachedEmbedder(embedder.inner, online), episode_ids=ids)
    offline = SQLiteStore(tmp_path / "offline.db")
    ingest(offline, embedder, eps)
    report = distill(offline, CachedEmbedder(embedder.inner, offline), rebuild=True)
    a, b = _snapshot(online), _snapshot(offline)
    assert a["nodes"] == b["nodes"]
    assert a["edges"] == b["edges"]
    assert a["steps"] == b["steps"]
    assert report.skills == {"atomic": 3, "functional": 1, "strategic": 2}
    assert report.guardrails == 1


def test_rebuild_twice_and_rerun_online_change_nothing(mined, embedder):
    store, _ = mined
    before = _snapshot(store)
    again = distill(store, CachedEmbedder(embedder.inner, store))
    assert again.written == 0 and again.deleted == 0
    distill(store, CachedEmbedder(embedder.inner, store), rebuild=True)
    assert _snapshot(store) == before


def test_tasks_get_clusters_and_each_cluster_with_success_gets_a_plan(mined):
    store, _ = mined
    tasks = store.find_nodes(Label.TASK)
    assert all(isinstance(t.props["cluster"], int) for t in tasks)
    plans = skills(store, "strategic")
    assert plans, "no plan for clusters with successes"
    for p in plans:
        tasks_of = {e.dst for e in store.edges(Rel.PLANS_FOR, src=p.id)}
        clusters = {t.props["cluster"] for t in tasks if t.id in tasks_of}
        assert p.props["scope"] == f"cluster:{clusters.pop()}" and not clusters
        assert p.props["actions"] == ["search[<query>]", "click[<item>]", "click[buy now]"]
        parts = store.edges(Rel.COMPOSED_OF, src=p.id)
        assert len(parts) == 1  # compressed into the one functional skill
        assert store.get_node(parts[0].dst).props["tier"] == "functional"
    mug = TaskNode(text="buy a red mug under 20 dollars").id
    assert any(mug in {e.dst for e in store.edges(Rel.PLANS_FOR, src=p.id)} for p in plans)


def test_imported_skills_survive_rebuild(mined, embedder):
    from expgraph.distill.skills import write_imported_skills
    from expgraph.models import SkillNode, Tier

    store, _ = mined
    sk = SkillNode(tier=Tier.FUNCTIONAL, name="craftPickaxe", actions=["craftItem"],
                   description="craft a wooden pickaxe", code="async function craftPickaxe(){}")
    assert write_imported_skills(store, CachedEmbedder(embedder.inner, store), [sk]) == 1
    distill(store, CachedEmbedder(embedder.inner, store), rebuild=True)
    kept = store.get_node(sk.id)
    assert kept is not None and kept.props["source"] == "imported"
    assert kept.embedding is not None


def test_closed_sequences_drop_subsequences_with_equal_support():
    runs = {"a": ["s", "c", "b", "x"], "b": ["s", "c", "b"], "c": ["s", "c", "y"]}
    closed = closed_sequences(runs)
    assert closed == {("s", "c"): {"a", "b", "c"}, ("s", "c", "b"): {"a", "b"}}


def test_parameters_number_repeated_slots():
    assert parameters(["search[<query>]", "click[<item>]", "click[<item>]", "click[buy now]"]) \
        == ["query", "item", "item_2"]


@pytest.mark.parametrize(("result", "flag", "expected"), [
    ("Traceback (most recent call last):\n  File x", False, "Traceback (most recent call last):"),
    ("Error: no flight with that id", False, "Error: no flight with that id"),
    ("bash: foo: command not found", False, "bash: foo: command not found"),
    ("Nothing happens.", False, "Nothing happens."),
    ("Price: $9.99 (invalid coupons are ignored further down the page)", False, None),
    ("All good", True, "All good"),
    ("[Back to Search] Page 1", False, None),
])
def test_error_signal(result, flag, expected):
    assert error_signal(result, flag) == expected
