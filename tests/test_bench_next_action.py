"""bench/next_action.py on a tiny hand-made corpus: the protocol (splits, queries, failing steps,
labels) and the baselines, with every expected number worked out by hand.

The kNN expectations rest on one property of the corpus: every label has exactly two training
steps, so a query whose text equals one of them gives that label 2.0 votes and every other label
less (two distinct texts never reach cosine 1). The one similarity the avoid numbers depend on is
checked with the real model before it is used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` from this checkout

from bench.next_action import (  # noqa: E402
    build_baselines,
    evaluate,
    markdown,
    merge_results,
    rank_scores,
    run_split,
    second_half,
    verdict,
)
from bench.nextaction_baselines import KNN, Markov, failure_knn  # noqa: E402
from bench.nextaction_data import (  # noqa: E402
    Labeler,
    Split,
    failing_training_steps,
    hotpotqa_failing_step,
    newest_message,
    queries_for,
    split_recurring,
    split_unseen,
    subsample,
    subsample_episodes,
    tau_failing_step,
    webshop_failing_step,
)
from expgraph.models import ActionCall, Episode, Outcome, Step  # noqa: E402

CLOSED = "A closed door stands in front of you."
OPENED = "The door is open. A hallway lies beyond."
BOOK = "A book lies on the table."
HOLD = "You hold the book."


def ep(task: str, steps: list[tuple[str, str]], ok: bool, error_at: int | None = None) -> Episode:
    return Episode(task=task, outcome=Outcome(success=ok), steps=[
        Step(observation=o, action=ActionCall(name=a), error=(i == error_at))
        for i, (o, a) in enumerate(steps)])


TRAIN = [
    ep("open the red door", [(CLOSED, "open"), (OPENED, "go")], True),
    ep("open the blue door", [(CLOSED, "open"), (OPENED, "go")], True),
    ep("read the red book", [(BOOK, "take"), (HOLD, "read")], True),
    ep("read the blue book", [(BOOK, "take"), (HOLD, "read")], True),
    ep("open the old door", [(CLOSED, "kick")], False, error_at=0),
]
HELD = [
    ep("open the green door", [(CLOSED, "open"), (OPENED, "go"), (HOLD, "shout")], True),
    ep("read the green book", [(HOLD, "read")], True),
    ep("open the new door", [(CLOSED, "kick")], False, error_at=0),
    ep("read the old book", [(BOOK, "burn")], False, error_at=0),
    ep("kick open the stuck door", [(CLOSED, "kick")], True),
]
FAILING = {e.id: (0 if not e.succeeded else None) for e in TRAIN + HELD}


# --------------------------------------------------------------------------- metrics


def test_rank_scores_counts_hits_and_reciprocal_rank_within_the_top_ten() -> None:
    assert rank_scores(["a", "b", "c"], "a") == (1.0, 1.0, 1.0)
    assert rank_scores(["a", "b", "c"], "b") == (0.0, 1.0, 0.5)
    six = ["a", "b", "c", "d", "e", "f"]
    assert rank_scores(six, "f") == (0.0, 0.0, pytest.approx(1 / 6))
    eleven = [str(i) for i in range(11)]
    assert rank_scores(eleven, "10") == (0.0, 0.0, 0.0)  # 11th: outside the top 10
    assert rank_scores([], "a") == (0.0, 0.0, 0.0)


def test_verdict_needs_both_hits_and_avoid_recall_at_no_higher_false_avoid() -> None:
    def row(h1, h5, rec=None, fa=None):
        return {"hit@1": h1, "hit@5": h5, "avoid_recall": rec, "false_avoid": fa}

    rows = {"expgraph": row(0.5, 0.9, 0.6, 0.05), "markov": row(0.4, 0.95),
            "knn-window": row(0.45, 0.7), "knn-newest": row(0.55, 0.8),
            "knn-failures": row(None, None, 0.6, 0.06)}
    v = verdict(rows)
    assert v["hit@1"] == {"wins": False, "expgraph": 0.5, "best": 0.55, "baseline": "knn-newest"}
    assert v["hit@5"] == {"wins": False, "expgraph": 0.9, "best": 0.95, "baseline": "markov"}
    assert v["avoid"]["wins"] is True  # same recall, fewer false avoids
    rows["expgraph"]["false_avoid"] = 0.07
    assert verdict(rows)["avoid"]["wins"] is False


def test_results_merge_keeps_other_corpora_and_replaces_the_ones_measured(tmp_path) -> None:
    out = tmp_path / "next_action.json"
    old = [{"corpus": "tau_retail", "split": "unseen", "v": 1},
           {"corpus": "webshop", "split": "unseen", "v": 1}]
    out.write_text(json.dumps({"results": old}))
    merged = merge_results(out, [{"corpus": "webshop", "split": "unseen", "v": 2}])
    assert [(r["corpus"], r["v"]) for r in merged["results"]] == [("webshop", 2),
                                                                   ("tau_retail", 1)]
    assert merge_results(tmp_path / "absent.json", [])["results"] == []


def test_markdown_renders_one_readme_row_per_corpus_and_split() -> None:
    def row(method: str, h1: float | None, h5: float | None, recall: float | None = None,
            fa: float | None = None) -> dict:
        return {"method": method, "hit@1": h1, "hit@5": h5, "mrr": h1, "avoid_recall": recall,
                "false_avoid": fa}

    res = {"corpus": "webshop", "split": "unseen", "steps_asked": 4, "steps_total": 5,
           "failing_asked": 2,
           "rows": [row("expgraph", 0.75, 1.0, 0.5, 0.25), row("expgraph@0.5", None, None, 1.0, 0.25),
                    row("markov", 0.5, 0.75), row("knn-window", 0.25, 0.5),
                    row("knn-newest", 0.25, 0.75), row("knn-failures", None, None, 0.5, 0.5)],
           "streaming": {"static_hit@1": 0.5, "stream_hit@1": 0.75,
                         "stream_with_failed_hit@1": 0.5, "rises": True,
                         "failed_do_not_hurt": False},
           "avoid_at_matched_false_avoid": None,
           "wins": {"hit@1": {"wins": True}, "hit@5": {"wins": True}, "avoid": None}}
    header, rule, line = markdown([res]).split("\n")
    assert header.count("|") == rule.count("|") == line.count("|") == 13
    assert line == ("| webshop / unseen | 4 of 5 steps, 2 failing | 0.750 / 1.000 / 0.750 "
                    "| 0.500 / 0.750 | 0.250 / 0.500 | 0.250 / 0.750 | 0.500 @ 0.250 "
                    "| 1.000 @ 0.250 (F=0.5) | 0.500 @ 0.500 | – | 0.500 → 0.750 → 0.500 "
                    "| yes, yes, n/a, **no** |")


# --------------------------------------------------------------------------- protocol


def test_newest_message_is_the_last_role_prefixed_message_of_a_chat_window() -> None:
    window = "user: cancel #W1\n\nassistant: which reason?\n\nuser: no longer needed\n\nplease"
    assert newest_message(window) == "user: no longer needed\n\nplease"
    assert newest_message("tool: {}") == "tool: {}"
    assert newest_message(CLOSED) == CLOSED


def test_unseen_split_holds_out_every_third_distinct_task_with_all_its_episodes() -> None:
    eps = [ep(t, [(CLOSED, "open")], True) for t in "abcabcdefg"]
    s = split_unseen(eps)
    # distinct tasks in order a b c d e f g: the 3rd and 6th (c, f) are held out
    assert [e.task for e in s.held] == ["c", "c", "f"]
    assert [e.task for e in s.train] == ["a", "b", "a", "b", "d", "e", "g"]


def test_recurring_split_ingests_first_attempts_and_asks_later_ones() -> None:
    eps = [ep(t, [(CLOSED, a)], True) for t, a in zip("ababcd", "123456", strict=True)]
    s = split_recurring(eps)
    assert [(e.task, e.steps[0].action.name) for e in s.train] == [("a", "1"), ("b", "2"),
                                                                    ("c", "5"), ("d", "6")]
    assert [(e.task, e.steps[0].action.name) for e in s.held] == [("a", "3"), ("b", "4")]
    assert split_recurring(TRAIN) is None  # no task repeats


def test_queries_cover_every_successful_step_and_only_the_failing_step_of_a_failure() -> None:
    lab = Labeler(TRAIN)
    nxt, bad = queries_for(HELD, FAILING, lab)
    assert [(q.task, q.index, q.gold, q.prev, q.history) for q in nxt] == [
        ("open the green door", 0, "open", None, []),
        ("open the green door", 1, "go", "open", ["open"]),
        ("open the green door", 2, "shout", "go", ["open", "go"]),
        ("read the green book", 0, "read", None, []),
        ("kick open the stuck door", 0, "kick", None, []),
    ]
    assert [(q.task, q.gold, q.failing) for q in bad] == [
        ("open the new door", "kick", True), ("read the old book", "burn", True)]
    # a failure whose corpus does not say which step failed is not asked
    assert queries_for(HELD[2:3], {HELD[2].id: None}, lab) == ([], [])


def test_subsample_is_deterministic_and_keeps_asking_order() -> None:
    nxt, _ = queries_for(HELD, FAILING, Labeler(TRAIN))
    a, b = subsample(nxt, 3), subsample(list(nxt), 3)
    assert [(q.episode, q.index) for q in a] == [(q.episode, q.index) for q in b]
    assert len(a) == 3 and a == [q for q in nxt if q in a]
    assert subsample(nxt, None) == nxt
    whole = subsample_episodes(nxt, 2)  # whole episodes until at least 2 steps are in
    by_ep = {q.episode: [p.index for p in nxt if p.episode == q.episode] for q in whole}
    assert all([q.index for q in whole if q.episode == e] == idx for e, idx in by_ep.items())
    assert len(whole) >= 2 and whole == subsample_episodes(list(nxt), 2)


def test_labels_are_templates_under_constants_learned_from_training() -> None:
    def clicks(n: int, value: str) -> list[Episode]:
        return [Episode(task=f"t{i}{value}", steps=[Step(action=ActionCall(
            name="click", arguments={"item": value}))]) for i in range(n)]

    lab = Labeler(clicks(3, "Buy Now") + clicks(2, "Next >"))
    assert lab.of_step(clicks(1, "Buy Now")[0].steps[0]) == "click[buy now]"  # 3 episodes
    assert lab.of_step(clicks(1, "Next >")[0].steps[0]) == "click[<item>]"  # only 2
    assert lab.of_answer("click[next >]") == "click[<item>]"  # an answer relabeled alike
    assert lab.of_answer("get_order_details") == "get_order_details"
    # where the store learned otherwise (it counts distinct trajectories), both sides are slots
    strict = Labeler(clicks(3, "Buy Now"), agree_with={"click": []})
    assert strict.of_step(clicks(1, "Buy Now")[0].steps[0]) == "click[<item>]"
    assert strict.of_answer("click[buy now]") == "click[<item>]"


def test_failing_steps_follow_what_each_corpus_says() -> None:
    invalid = Episode(task="t", outcome=Outcome(success=False, reward=0.5), steps=[
        Step(action=ActionCall(name="search", arguments={"query": "x"})),
        Step(action=ActionCall(name="click", arguments={"item": "Buy Now"}), error=True),
        Step(action=ActionCall(name="click", arguments={"item": "Buy Now"}))])
    assert webshop_failing_step(invalid) == 1  # the rejected action
    scored = invalid.model_copy(deep=True)
    scored.steps[1].error = False
    assert webshop_failing_step(scored) == 2  # the last purchase, judged by the score
    cut_off = scored.model_copy(update={"outcome": Outcome(success=False)})
    assert webshop_failing_step(cut_off) is None  # no score: the corpus does not say
    hotpot = Episode(task="q", outcome=Outcome(success=False), steps=[
        Step(action=ActionCall(name="search", arguments={"query": "x"}), result="Could not"),
        Step(action=ActionCall(name="finish", arguments={"answer": "y"}),
             result="Answer is INCORRECT")])
    assert hotpotqa_failing_step(hotpot) == 1
    assert hotpotqa_failing_step(hotpot.model_copy(update={"steps": hotpot.steps[:1]})) is None


def test_tau_failing_step_is_the_first_write_call_not_among_gold_actions() -> None:
    def call(name: str, **kw: object) -> Step:
        return Step(action=ActionCall(name=name, arguments=kw))

    gold = [{"name": "return_delivered_order_items",
             "kwargs": {"order_id": "#W1", "item_ids": ["1", "2"]}}]
    right = [call("get_order_details", order_id="#W1"),
             call("return_delivered_order_items", item_ids=["1", "2"], order_id="#W1")]
    wrong_arg = [*right[:1], call("return_delivered_order_items", order_id="#W1",
                                  item_ids=["1", "2", "3"])]
    wrong_tool = [*right[:1], call("calculate", expression="1+1"),
                  call("exchange_delivered_order_items", order_id="#W1")]
    for steps, want in ((right, None), (wrong_arg, 1), (wrong_tool, 2)):
        e = Episode(task="t", outcome=Outcome(success=False), steps=steps)
        assert tau_failing_step(e, gold) == want


# --------------------------------------------------------------------------- baselines


def test_markov_ranks_what_followed_the_previous_action_then_global_frequency() -> None:
    m = Markov([["search", "click", "buy"], ["search", "click", "click", "buy"],
                ["search", "think"]])
    assert m.rank("click") == ["buy", "click", "search", "think"]  # buy 2, click 1; then global
    assert m.rank(None) == ["search", "click", "buy", "think"]  # start: search 3
    assert m.rank("think") == ["click", "search", "buy", "think"]  # never followed: global


def test_knn_votes_are_similarity_weighted_and_failure_knn_keeps_close_neighbours() -> None:
    vecs = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1]], dtype=np.float32)
    knn = KNN(vecs, ["a", "b", "b", "c"], k=3)
    # query (1, 0): sims 1.0 a, 0.8 b, 0.6 b (c is 4th, outside k=3): b 1.4 > a 1.0
    assert knn.rank(np.array([1, 0], dtype=np.float32)) == ["b", "a"]
    fail = failure_knn(vecs, ["a", "b", "b", "c"])
    # query (0, 1): sims c 1.0, b 0.8, b 0.6 -> the 0.6 one is not > 0.6
    assert fail.neighbours(np.array([0, 1], dtype=np.float32)) == [
        (3, 1.0), (2, pytest.approx(0.8))]
    # a corpus without failures (ALFWorld) flags nothing
    assert failure_knn(np.zeros((0, 2), dtype=np.float32), []).rank(np.array([0, 1])) == []


def test_baselines_on_the_tiny_corpus_match_hand_computed_metrics(embedder, model) -> None:
    sim = float(model.embed([BOOK])[0] @ model.embed([CLOSED])[0])
    assert sim <= 0.6, "premise: the book text is not a near neighbour of the closed door"
    lab = Labeler(TRAIN)
    nxt, bad = queries_for(HELD, FAILING, lab)
    base = build_baselines(TRAIN, FAILING, lab, embedder, [*nxt, *bad], model)
    assert [e.task for e, _ in failing_training_steps(TRAIN, FAILING)] == ["open the old door"]
    rows = {m: r.summary() for m, r in evaluate(base.methods(), nxt, bad).items()}
    # Markov ranks: start [open, take, go, read]; after open [go, ...]; after go: global
    # [go, open, read, take]. Steps: open@1, go@1, shout miss, read@4, kick miss.
    assert rows["markov"]["hit@1"] == 0.4 and rows["markov"]["hit@5"] == 0.6
    assert rows["markov"]["mrr"] == pytest.approx((1 + 1 + 0 + 0.25 + 0) / 5, abs=1e-3)
    # kNN (window = newest here): open, go, read right at rank 1; shout, kick never succeeded
    for m in ("knn-window", "knn-newest"):
        assert (rows[m]["hit@1"], rows[m]["hit@5"], rows[m]["mrr"]) == (0.6, 0.6, 0.6)
        assert rows[m]["avoid_recall"] is None and rows[m]["false_avoid"] is None
    # failing-step kNN: the closed door recalls `kick` (cosine 1), the book is too far;
    # of the 5 successful steps only the kick at the closed door is flagged
    f = rows["knn-failures"]
    assert (f["avoid_recall"], f["false_avoid"], f["hit@1"]) == (0.5, 0.2, None)


def test_run_split_scores_expgraph_streams_and_reuses_its_store(tmp_path, model,
                                                                embedder) -> None:
    split = Split("unseen", TRAIN, HELD, "hand-made")
    first = run_split("tiny", split, FAILING, model, embedder, tmp_path, None, streaming=True)
    methods = [r["method"] for r in first["rows"]]
    # expgraph again at the failure baseline's operating point: its false-avoid, 1 of 5 (above)
    assert methods == ["expgraph", "markov", "knn-window", "knn-newest", "knn-failures",
                       "expgraph@0.20"]
    assert (first["steps_asked"], first["failing_asked"], first["held_successful"]) == (5, 2, 3)
    assert first["times"]["cached"] is False and first["times"]["ingest_s"] >= 0
    # the second half of the 3 successful held-out episodes: the last 2 (read, kick) -> 2 steps
    assert [q.gold for q in second_half(HELD, queries_for(HELD, FAILING, Labeler(TRAIN))[0])
            ] == ["read", "kick"]
    assert first["streaming"]["steps"] == 2
    again = run_split("tiny", split, FAILING, model, embedder, tmp_path, None, streaming=False)
    assert again["times"]["cached"] is True and "streaming" not in again
    assert again["rows"] == [{**r, "ms/call": again["rows"][i]["ms/call"]}
                             for i, r in enumerate(first["rows"])]
    assert len(list(tmp_path.glob("tiny-unseen-*.db"))) == 1


def test_streaming_refits_the_advice_model_after_every_n_ingested_episodes(
        tmp_path, model, embedder, monkeypatch) -> None:
    from expgraph.graph import ExperienceGraph

    calls: list[list[str] | None] = []
    real = ExperienceGraph.refine

    def refine(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(kwargs.get("passes"))
        return real(self, *args, **kwargs)

    split = Split("unseen", TRAIN, HELD, "hand-made")
    run_split("tiny", split, FAILING, model, embedder, tmp_path, None, streaming=False)
    monkeypatch.setattr(ExperienceGraph, "refine", refine)
    res = run_split("tiny", split, FAILING, model, embedder, tmp_path, None, streaming=True,
                    stream_refine=2)
    # successes only: the green door is ingested before the green book is asked (1 episode),
    # the green book before the stuck door (2: refit). With the failures: 1, then the green
    # book and both failed episodes (4: refit). One refit per stream, the advice pass only.
    assert calls == [["advice"], ["advice"]]
    assert res["streaming"]["refine_every"] == 2
