"""The LangChain retriever and tool over a real graph (no LLM needed)."""

from __future__ import annotations

import json

import pytest
from langchain_core.documents import Document
from test_retrieval_query import RESULTS_OBS, TASK, build_shop_graph

from expgraph.graph import ExperienceGraph
from queries.langchain import ExperienceRetriever, make_experience_tool
from queries.schema import QueryResult, Result, SuggestResult


@pytest.fixture
def shop_graph(tmp_path, model):
    g = ExperienceGraph(tmp_path / "shop.db", embedder=model, auto_distill=False)
    ids = build_shop_graph(g.store, g.embedder)
    yield g, ids
    g.close()


def test_retriever_returns_documents_with_the_result_json_as_metadata(shop_graph):
    g, ids = shop_graph
    docs = ExperienceRetriever(graph=g, k=3, task=TASK).invoke(RESULTS_OBS)
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    direct = g.query(RESULTS_OBS, task=TASK, k=3)
    assert [d.metadata["id"] for d in docs] == [r.id for r in direct.results]
    for d in docs:
        r = Result.model_validate(d.metadata)
        assert d.page_content == r.text() and r.name in d.page_content
    cart = next(d for d in docs + ExperienceRetriever(graph=g, k=10).invoke(RESULTS_OBS)
                if d.metadata["id"] == ids["g_cart"])
    assert "Avoid: click[add to cart]" in cart.page_content


def test_retriever_can_be_limited_to_one_kind(shop_graph):
    g, ids = shop_graph
    docs = ExperienceRetriever(graph=g, k=5, kinds=("guardrail",)).invoke(RESULTS_OBS)
    assert {d.metadata["id"] for d in docs} == {ids["g_cart"], ids["g_buy"]}


def test_tool_answers_suggest_and_query_json(shop_graph):
    g, ids = shop_graph
    tool = make_experience_tool(g)
    assert tool.name == "experience" and "state" in tool.args
    out = SuggestResult.model_validate(json.loads(tool.invoke({"state": RESULTS_OBS})))
    assert out.next[0].action == "click[<item>]"
    out = QueryResult.model_validate(json.loads(tool.invoke(
        {"state": RESULTS_OBS, "mode": "query", "k": 2})))
    assert len(out.results) == 2
