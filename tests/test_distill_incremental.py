"""Online distillation parses only the episodes it has not seen: the per-store parse cache of
`load_corpus` gives the corpus, and the layer, of parsing every episode again."""

from __future__ import annotations

from test_retrieval_suggest import shop_episodes

from expgraph.distill import corpus as corpus_mod
from expgraph.distill.corpus import load_corpus
from expgraph.distill.writer import DERIVED_LABELS, DERIVED_RELS
from expgraph.graph import ExperienceGraph
from expgraph.models import Label
from expgraph.store import SQLiteStore

VOLATILE = ("created_at", "updated_at")


def _layer(store) -> tuple[dict, list]:  # noqa: ANN001
    nodes = {r.id: (r.text, {k: v for k, v in r.props.items() if k not in VOLATILE})
             for label in (*DERIVED_LABELS, Label.TASK) for r in store.find_nodes(label)}
    edges = sorted((e.type.value, e.src, e.dst, e.key, sorted(e.props.items()))
                   for rel in DERIVED_RELS for e in store.edges(rel))
    return nodes, edges


def _parse_all(monkeypatch) -> None:  # noqa: ANN001
    """The computation the cache replaces: every episode parsed from its record."""
    monkeypatch.setattr(SQLiteStore, "iter_props", None)


def test_online_distillation_with_the_parse_cache_writes_the_layer_of_a_full_parse(
        tmp_path, model, monkeypatch):
    eps = shop_episodes()
    cached = ExperienceGraph(store=SQLiteStore(tmp_path / "cached.db"), embedder=model)
    parsed = 0
    real = corpus_mod._parse

    def counting(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        nonlocal parsed
        parsed += 1
        return real(*a, **kw)

    with monkeypatch.context() as m:
        m.setattr(corpus_mod, "_parse", counting)
        for ep in eps:  # one episode per ingest, each distilled online
            cached.ingest(ep)
    # each episode parsed once when it arrived (and once more when distillation's own
    # write... never: episodes are not rewritten), not once per ingest after it
    assert parsed == len(eps)
    full = ExperienceGraph(store=SQLiteStore(tmp_path / "full.db"), embedder=model)
    with monkeypatch.context() as m:
        _parse_all(m)
        for ep in eps:
            full.ingest(ep)
    a, b = _layer(cached.store), _layer(full.store)
    assert a[0] and a[1]  # skills, failures, guardrails and their edges were mined
    assert a == b
    # the corpus from the cache is the corpus parsed afresh (templates under the final
    # constants: constants were learned anew as episodes arrived)
    got = load_corpus(cached.store)
    with monkeypatch.context() as m:
        _parse_all(m)
        want = load_corpus(cached.store)
    assert got.constants == want.constants and got.constants.get("click")
    assert got.episodes == want.episodes
    cached.close()
    full.close()


def test_an_episode_whose_stored_text_changed_is_parsed_again(tmp_path, model, monkeypatch):
    g = ExperienceGraph(store=SQLiteStore(tmp_path / "c.db"), embedder=model)
    g.ingest(shop_episodes())
    before = load_corpus(g.store)
    rec = g.store.find_nodes(Label.EPISODE)[0]
    assert rec.props["success"] is True
    g.store.upsert_nodes([rec.model_copy(update={"props": {**rec.props, "success": False}})])
    after = load_corpus(g.store)
    with monkeypatch.context() as m:
        _parse_all(m)
        want = load_corpus(g.store)
    assert after.episodes == want.episodes and after.constants == want.constants
    changed = next(e for e in after.episodes if e.id == rec.id)
    assert changed.success is False
    assert next(e for e in before.episodes if e.id == rec.id).success is True  # not modified
    g.store.delete_nodes([rec.id])
    assert rec.id not in {e.id for e in load_corpus(g.store).episodes}
    g.close()
