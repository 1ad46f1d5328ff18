"""The realistic latency corpus: recombined from the real corpora, deterministic, and new text
keeps appearing as it grows (unlike the generated shop/support corpus)."""

from __future__ import annotations

import pytest

from bench.corpus import _Entities, growth, load_real_pool, realistic_corpus


@pytest.fixture(scope="module")
def pool(shared_data):
    return load_real_pool(shared_data)


def test_entities_rewrite_digit_runs_consistently_and_keep_their_length():
    ent = _Entities(7)
    out = ent({"order": "#W2611340", "again": "order #W2611340, 3 items", "n": 3})
    assert out["n"] == 3  # not a string: untouched
    first = out["order"]
    assert first.startswith("#W") and len(first) == len("#W2611340") and first != "#W2611340"
    assert out["again"].startswith(f"order {first}, ")  # the same id, the same way
    assert _Entities(0)("order #W2611340") == "order #W2611340"  # variant 0 is the original


def test_realistic_corpus_is_deterministic_and_draws_every_corpus(pool):
    a = realistic_corpus(2000, seed=3, pool=pool)
    b = realistic_corpus(2000, seed=3, pool=pool)
    assert [e.model_dump() for e in a] == [e.model_dump() for e in b]
    assert sum(len(e.steps) for e in a) >= 2000
    agents = {e.agent for e in a}
    assert len(agents) == 4  # webshop/react, hotpotqa/reflexion, alfworld, tau-bench


def test_distinct_texts_keep_growing_with_size(pool):
    small = growth(realistic_corpus(2000, seed=0, pool=pool))
    large = growth(realistic_corpus(8000, seed=0, pool=pool))
    # more distinct observations and states at four times the size, but fewer than 4x:
    # recurring tasks repeat pages, as deployed agents' logs do
    assert small["windows"] < large["windows"] < 4 * small["windows"]
    assert small["signatures"] < large["signatures"]
    assert large["texts_to_embed"] > 1.5 * small["texts_to_embed"]
