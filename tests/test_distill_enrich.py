"""LLM enrichment with langchain-core's fake chat models: names and root causes come from the
model when it answers, are cached by content, and the deterministic text stays otherwise."""

from __future__ import annotations

import json

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from test_distill_mining import corpus, ingest

from expgraph.distill import distill
from expgraph.distill.enrich import CACHE_META, guardrail_key, skill_key
from expgraph.embedder import CachedEmbedder
from expgraph.models import GuardrailNode, Label, SkillNode


class RaisingChatModel(FakeListChatModel):
    """A fake chat model whose every call fails, as a provider outage would."""

    def _call(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("provider unavailable")


def _mined(store, embedder):
    ids = ingest(store, embedder, corpus())
    distill(store, CachedEmbedder(embedder.inner, store), episode_ids=ids)
    skills = [SkillNode.from_record(r) for r in store.find_nodes(Label.SKILL)]
    rails = [GuardrailNode.from_record(r) for r in store.find_nodes(Label.GUARDRAIL)]
    return skills, rails


def _answers(skills, rails) -> list[str]:
    named = {"items": [{"key": skill_key(s), "name": f"LLM name {i}",
                        "description": f"LLM description {i}"} for i, s in enumerate(skills)]}
    causes = {"items": [{"key": guardrail_key(g), "root_cause": "buying needs an item page"}
                        for g in rails]}
    return [json.dumps(named), "Sure! " + json.dumps(causes)]


def test_llm_names_skills_and_explains_guardrails(store, embedder):
    skills, rails = _mined(store, embedder)
    llm = FakeListChatModel(responses=_answers(skills, rails))
    report = distill(store, CachedEmbedder(embedder.inner, store), llm=llm)
    assert report.llm_enriched == len(skills) + len(rails)
    names = {r.props["name"] for r in store.find_nodes(Label.SKILL)}
    assert names == {f"LLM name {i}" for i in range(len(skills))}
    assert [r.props["root_cause"] for r in store.find_nodes(Label.GUARDRAIL)] == [
        "buying needs an item page"]
    assert len(store.get_meta(CACHE_META)) == len(skills) + len(rails)


def test_cached_enrichment_is_reused_without_calling_the_model_again(store, embedder):
    skills, rails = _mined(store, embedder)
    distill(store, CachedEmbedder(embedder.inner, store),
            llm=FakeListChatModel(responses=_answers(skills, rails)))
    report = distill(store, CachedEmbedder(embedder.inner, store), llm=RaisingChatModel(
        responses=["unused"]))
    assert report.llm_enriched == len(skills) + len(rails)
    assert all(r.props["name"].startswith("LLM name") for r in store.find_nodes(Label.SKILL))


def test_failing_model_keeps_deterministic_names(store, embedder):
    skills, rails = _mined(store, embedder)
    report = distill(store, CachedEmbedder(embedder.inner, store),
                     llm=RaisingChatModel(responses=["unused"]))
    assert report.llm_enriched == 0
    assert sorted(r.props["name"] for r in store.find_nodes(Label.SKILL)) == sorted(
        s.name for s in skills)
    assert store.get_meta(CACHE_META) is None


def test_malformed_model_answer_keeps_deterministic_text(store, embedder):
    skills, rails = _mined(store, embedder)
    bad = FakeListChatModel(responses=['{"items": [{"key": "x"}]}', "no json here"])
    report = distill(store, CachedEmbedder(embedder.inner, store), llm=bad)
    assert report.llm_enriched == 0
    assert [r.props["root_cause"] for r in store.find_nodes(Label.GUARDRAIL)] == [
        g.root_cause for g in rails]
