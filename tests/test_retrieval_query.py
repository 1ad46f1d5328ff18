"""`query` on a small hand-built WebShop-like graph whose right answers are known.

`build_shop_graph` is imported by the other retrieval, HTTP and LangChain tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from expgraph.distill.states import canonicalize, state_id
from expgraph.models import (
    EdgeRecord,
    GuardrailNode,
    NodeRecord,
    Rel,
    SkillNode,
    StateNode,
    Status,
    TaskNode,
)
from queries.config import PRESETS, SearchConfig, UnknownPresetError, Weights
from queries.corpus import served_corpus
from queries.retrieval import query
from queries.schema import QueryResult

SEARCH_OBS = ("WebShop\nInstruction:\ni need a red ceramic mug, price lower than 20.00 "
              "dollars\n[Search]")
RESULTS_OBS = ("[Back to Search]\nPage 1 (Total results: 50)\n[Next >]\n[B07XYZ1234]\n"
               "Red Ceramic Coffee Mug 12 oz, dishwasher safe\n$12.99\n[B08ABC5678]\n"
               "Blue Travel Mug, stainless steel\n$18.50")
ITEM_OBS = ("[Back to Search]\n[< Prev]\ncolor [red][blue][white]\nsize [12 oz][16 oz]\n"
            "Red Ceramic Coffee Mug 12 oz, dishwasher safe\nPrice: $12.99\nRating: N.A.\n"
            "[Description]\n[Features]\n[Reviews]\n[Buy Now]")
TASK = "i need a red ceramic mug, price lower than 20.00 dollars"
CONSTANTS = {"click": ["buy now", "next >", "add to cart"]}


def _embedded(rec: NodeRecord, embedder) -> NodeRecord:
    rec.embedding = embedder.embed([rec.text])[0].tolist()
    return rec


def build_shop_graph(store, embedder) -> dict[str, str]:
    """Three states (search page, results page, item page) with transitions, six skills (one
    deprecated, one plan), two guardrails on the results page. Returns name -> id."""
    states = {name: StateNode(id=state_id(canonicalize(obs)), signature=canonicalize(obs),
                              representative=obs, member_count=5)
              for name, obs in (("s_search", SEARCH_OBS), ("s_results", RESULTS_OBS),
                                ("s_item", ITEM_OBS))}
    skills = {
        "k_search": SkillNode(tier="atomic", name="search for the product",
                              description="type the product keywords into the search box",
                              actions=["search[<query>]"], support=10, successes=8, failures=2,
                              utility=0.6),
        "k_open": SkillNode(tier="atomic", name="open a matching product",
                            description="click the id of a result that matches the request",
                            actions=["click[<item>]"], support=8, successes=6, failures=2,
                            utility=0.5),
        "k_next": SkillNode(tier="atomic", name="paginate",
                            description="go to the following listing when nothing fits",
                            actions=["click[next >]"], support=3, successes=1, failures=2,
                            utility=0.1),
        "k_old": SkillNode(tier="atomic", name="open a matching product (old wording)",
                           description="click the id of a result that matches the request",
                           actions=["click[<item>]", "think[<thought>]"], support=2,
                           status=Status.DEPRECATED, utility=0.9),
        "k_buy": SkillNode(tier="functional", name="choose options then buy",
                           description="select the colour and the size, then purchase",
                           actions=["click[<item>]", "click[<item>]", "click[buy now]"],
                           support=6, successes=5, failures=1, utility=0.55),
        "k_plan": SkillNode(tier="strategic", name="shop for a product",
                            description="search, open a matching result, pick options, buy",
                            actions=["search[<query>]", "click[<item>]", "click[buy now]"],
                            scope="0", support=6, successes=5, failures=1, utility=0.5),
    }
    guards = {
        "g_cart": GuardrailNode(trigger_state=states["s_results"].id, trigger="on a results page",
                                forbidden=["click[add to cart]"],
                                rule="Never click add to cart on a results page",
                                root_cause="the results page has no cart button",
                                severity=0.9, support=4, failures=4, total=4, utility=0.5),
        "g_buy": GuardrailNode(trigger_state=states["s_results"].id, trigger="on a results page",
                               forbidden=["click[buy now]"],
                               rule="Do not buy from the results page; open an item first",
                               severity=0.6, support=3, failures=3, total=3, utility=0.4),
    }
    task = TaskNode(text=TASK)
    recs = [_embedded(n.to_record(), embedder)
            for n in (*states.values(), *skills.values(), *guards.values(), task)]
    store.upsert_nodes(recs)
    ids = {**{k: v.id for k, v in states.items()}, **{k: v.id for k, v in skills.items()},
           **{k: v.id for k, v in guards.items()}, "task": task.id}

    def edge(src: str, rel: Rel, dst: str, key: str = "", **props) -> EdgeRecord:
        return EdgeRecord(src=ids[src], dst=ids[dst], type=rel, key=key, props=props)

    def trans(src: str, dst: str, key: str, count: int, ok: int) -> EdgeRecord:
        return edge(src, Rel.TRANSITION, dst, key, action=key, name=key.split("[")[0],
                    count=count, successes=ok, errors=0)

    store.upsert_edges([
        edge("k_search", Rel.APPLIES_IN, "s_search"), edge("k_open", Rel.APPLIES_IN, "s_results"),
        edge("k_next", Rel.APPLIES_IN, "s_results"), edge("k_old", Rel.APPLIES_IN, "s_results"),
        edge("k_buy", Rel.APPLIES_IN, "s_item"), edge("k_plan", Rel.PLANS_FOR, "task"),
        edge("k_plan", Rel.COMPOSED_OF, "k_search", order=0),
        edge("k_plan", Rel.COMPOSED_OF, "k_open", order=1),
        edge("k_plan", Rel.COMPOSED_OF, "k_buy", order=2),
        edge("g_cart", Rel.GUARDS, "s_results"), edge("g_buy", Rel.GUARDS, "s_results"),
        trans("s_search", "s_results", "search[red mug]", 3, 2),
        trans("s_search", "s_results", "search[ceramic mug red]", 2, 2),
        trans("s_results", "s_item", "click[<id>]", 6, 5),
        trans("s_results", "s_results", "click[next >]", 2, 0),
        trans("s_item", "s_item", "click[red]", 4, 3),
        trans("s_item", "s_search", "click[buy now]", 5, 4),
    ])
    store.set_meta("action_constants", CONSTANTS)
    return ids


@pytest.fixture
def shop(store, embedder):
    return store, embedder, build_shop_graph(store, embedder)


def _ids(res: QueryResult) -> list[str]:
    return [r.id for r in res.results]


def test_graph_preset_ranks_items_attached_to_the_matching_state_first(shop):
    store, emb, ids = shop
    res = query(store, emb, RESULTS_OBS, preset="graph", k=10)
    top4 = set(_ids(res)[:4])
    # `paginate` shares no words with a results page, yet it applies there.
    assert top4 == {ids["k_open"], ids["k_next"], ids["g_cart"], ids["g_buy"]}
    assert ids["k_old"] not in _ids(res)


def test_sparse_preset_ranks_by_bm25_alone(shop):
    store, emb, ids = shop
    state = "the following listing, nothing fits the colour"
    res = query(store, emb, state, preset="sparse", k=10, explain=True)
    # By hand: `paginate` shares four words with the state (following, listing, nothing,
    # fits), `choose options then buy` one (colour); no other item shares a content word.
    assert _ids(res) == [ids["k_next"], ids["k_buy"]]
    assert all(r.signals.dense == 0 and r.signals.graph == 0 for r in res.results)


def test_dense_preset_finds_the_skill_by_meaning(shop):
    store, emb, ids = shop
    res = query(store, emb, "enter keywords to look up an item in the store", preset="dense",
                kinds=["skill"], explain=True)
    assert _ids(res)[0] == ids["k_search"]
    dense = [r.signals.dense for r in res.results]
    assert dense == sorted(dense, reverse=True)


def test_hybrid_walks_from_the_results_page_and_ranks_the_item_page_skill_last(shop):
    # The fusion formula itself is pinned by hand in test_retrieval_signals (rrf).
    store, emb, ids = shop
    res = query(store, emb, RESULTS_OBS, task=TASK, explain=True, k=20)
    walked = {r.id for r in res.results if r.signals.graph > 0}
    # Bound to the results page (APPLIES_IN / GUARDS), or the plan for this task (PLANS_FOR);
    # the deprecated skill is not served.
    assert walked == {ids["k_open"], ids["k_next"], ids["g_cart"], ids["g_buy"], ids["k_plan"]}
    scores = [r.score for r in res.results]
    assert scores == sorted(scores, reverse=True)
    # The item-page skill is relevant to no signal here but meaning and utility: it ranks last.
    assert _ids(res)[-1] == ids["k_buy"]


def test_deprecated_items_are_excluded_unless_asked(shop):
    store, emb, ids = shop
    state = "click the id of a result that matches the request"
    assert ids["k_old"] not in _ids(query(store, emb, state, preset="dense"))
    res = query(store, emb, state, preset="dense", include_deprecated=True)
    assert ids["k_old"] in _ids(res)[:2]


def test_tier_and_kind_filters(shop):
    store, emb, ids = shop
    res = query(store, emb, ITEM_OBS, tiers=["functional"], kinds=["skill"])
    assert _ids(res) == [ids["k_buy"]]
    res = query(store, emb, RESULTS_OBS, kinds=["guardrail"])
    assert set(_ids(res)) == {ids["g_cart"], ids["g_buy"]}
    assert all(r.kind == "guardrail" and r.tier is None for r in res.results)


def test_task_seeds_reach_the_plan_for_similar_tasks(shop):
    store, emb, ids = shop
    only_graph = PRESETS["graph"]
    without = query(store, emb, "a page nobody has seen", preset=only_graph, kinds=["skill"])
    with_task = query(store, emb, "a page nobody has seen", task="buy a red ceramic mug",
                      preset=only_graph, kinds=["skill"])
    assert ids["k_plan"] not in _ids(without)
    assert _ids(with_task)[0] == ids["k_plan"]


def test_results_carry_templates_evidence_and_signals_only_with_explain(shop):
    store, emb, ids = shop
    res = query(store, emb, RESULTS_OBS, k=20)
    by_id = {r.id: r for r in res.results}
    cart = by_id[ids["g_cart"]]
    assert cart.avoid == ["click[add to cart]"]  # a constant: kept as written
    assert cart.evidence.model_dump() == {"episodes": 4, "successes": 0, "failures": 4}
    assert by_id[ids["k_open"]].actions == ["click[<item>]"]
    assert all(r.signals is None for r in res.results)
    dumped = res.model_dump(mode="json")
    assert set(dumped) == {"query", "results"}
    assert set(dumped["results"][0]) == {"id", "kind", "tier", "name", "description", "actions",
                                         "avoid", "score", "signals", "evidence"}
    assert QueryResult.model_validate(dumped) == res


def test_unknown_preset_kind_or_tier_is_a_value_error(shop):
    store, emb, _ = shop
    with pytest.raises(UnknownPresetError, match="hybrid"):
        query(store, emb, "x", preset="nope")
    with pytest.raises(ValueError, match="kind"):
        query(store, emb, "x", kinds=["state"])
    with pytest.raises(ValueError, match="tier"):
        query(store, emb, "x", tiers=["legendary"])


def test_custom_config_weights_change_the_ranking(shop):
    store, emb, ids = shop
    utility_only = SearchConfig(weights=Weights(utility=1.0, graph=1e-9), fusion="weighted")
    res = query(store, emb, RESULTS_OBS, preset=utility_only, kinds=["skill"])
    utils = [served_corpus(store).items[i].utility for i in _ids(res)]
    assert utils == sorted(utils, reverse=True)


def test_empty_store_returns_no_results(store, embedder):
    assert query(store, embedder, "anything").results == []


def test_corpus_is_rebuilt_after_a_write(shop):
    store, emb, ids = shop
    before = served_corpus(store)
    assert served_corpus(store) is before
    rec = store.get_node(ids["k_next"])
    rec.props["status"] = "redundant"
    store.upsert_nodes([rec])
    assert served_corpus(store) is not before
    assert ids["k_next"] not in _ids(query(store, emb, RESULTS_OBS, preset="graph"))


def test_a_query_text_the_store_embedded_before_is_read_not_run_through_the_model(store, model):
    from expgraph.embedder import CachedEmbedder
    from expgraph.models import content_hash
    from queries.corpus import clear_query_vectors, embed_texts

    cached = CachedEmbedder(model, store)
    marker = np.zeros(model.dim, dtype=np.float32)
    marker[0] = 1.0  # no sentence embeds to a basis vector: only the store can give it
    store.cache_embeddings(model.name, {content_hash("Yes, please."): marker})
    clear_query_vectors()
    seen, new = embed_texts(cached, ["Yes, please.", "a sentence never ingested"])
    assert np.array_equal(seen, marker)
    assert np.allclose(new, model.embed(["a sentence never ingested"])[0], atol=1e-5)
    # a query's own text is never written to the store's cache
    assert store.cached_embeddings(model.name, [content_hash("a sentence never ingested")]) == {}
    clear_query_vectors()


def test_a_long_query_text_is_embedded_even_when_a_stored_text_shares_its_prefix(store, model):
    from expgraph.embedder import MAX_CHARS, CachedEmbedder
    from expgraph.models import content_hash
    from queries.corpus import clear_query_vectors, embed_texts

    long_text = "x " * MAX_CHARS + "the part that differs"
    marker = np.zeros(model.dim, dtype=np.float32)
    marker[0] = 1.0
    store.cache_embeddings(model.name, {content_hash(long_text[:MAX_CHARS]): marker})
    clear_query_vectors()
    (vec,) = embed_texts(CachedEmbedder(model, store), [long_text])
    assert not np.array_equal(vec, marker)  # another text with that prefix may hold the key
    clear_query_vectors()
