"""The candidate sources of `suggest`, each a pure function, on arrays small enough to work
out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from expgraph.memory.sources import (
    failure_neighbours,
    knn_votes,
    markov,
    nearest_success,
    next_in_sequence,
    ranks,
    risk_votes,
    shares,
    top_k,
    unusual_failures,
)

# five steps: their similarity to the query, the action each took (0, 1 or 2)
SIMS = np.array([0.9, 0.8, 0.8, 0.5, 0.1], dtype=np.float32)
LABELS = np.array([0, 1, 1, 2, 0])
ALL = np.ones(5, dtype=bool)


def test_top_k_is_best_first_with_ties_by_position_and_respects_the_mask():
    assert top_k(SIMS, ALL, 3).tolist() == [0, 1, 2]
    assert top_k(SIMS, np.array([False, True, True, True, True]), 2).tolist() == [1, 2]
    assert top_k(SIMS, ~ALL, 3).tolist() == []


def test_knn_votes_are_similarity_weighted_shares_of_the_nearest():
    votes, top, sim = knn_votes(SIMS, LABELS, ALL, k=3)
    # nearest three: 0.9 for action 0, 0.8 + 0.8 for action 1; total 2.5
    assert votes == pytest.approx({0: 0.9 / 2.5, 1: 1.6 / 2.5})
    assert (top, sim) == (0, pytest.approx(0.9))
    assert knn_votes(SIMS, LABELS, ~ALL) == ({}, -1, 0.0)


def test_shares_count_actions_in_the_pool():
    assert shares(LABELS, ALL) == pytest.approx({0: 0.4, 1: 0.4, 2: 0.2})


def test_markov_conditions_on_one_or_two_previous_actions():
    labels = np.array([5, 6, 7, 6])
    prev1 = np.array([-1, 5, 6, 5])
    prev2 = np.array([-1, -1, 5, 9])
    assert markov(labels, prev1, prev2, np.ones(4, bool), [], 1) == {5: 1.0}  # first steps
    assert markov(labels, prev1, prev2, np.ones(4, bool), [5], 1) == {6: 1.0}
    assert markov(labels, prev1, prev2, np.ones(4, bool), [9, 5], 2) == {6: 1.0}
    assert markov(labels, prev1, prev2, np.ones(4, bool), [5, 6], 2) == {7: 1.0}
    # the pool excludes step 1: after 5 only step 3 remains
    pool = np.array([True, False, True, True])
    assert markov(labels, prev1, prev2, pool, [5], 1) == {6: 1.0}
    assert markov(labels, prev1, prev2, pool, [7], 1) == {}


def test_next_in_sequence_aligns_history_with_the_skill():
    seq = ["search[<query>]", "click[<item>]", "click[<item>]", "click[buy now]"]
    assert next_in_sequence(seq, []) == "search[<query>]"
    assert next_in_sequence(seq, ["think[<thought>]"]) == "search[<query>]"  # not begun
    assert next_in_sequence(seq, ["search[<query>]"]) == "click[<item>]"
    assert next_in_sequence(seq, ["search[<query>]", "click[<item>]", "click[<item>]"]) == \
        "click[buy now]"
    assert next_in_sequence(seq, ["reset", "click[<item>]"]) == "click[<item>]"
    assert next_in_sequence(seq, [*seq]) is None  # done
    assert next_in_sequence([], ["x"]) is None


def test_risk_is_the_failed_share_of_near_steps_smoothed():
    failing = np.array([False, True, False, True, False])
    got = risk_votes(SIMS, LABELS, failing, ALL, k=4, prior=0.5)
    # action 0: 0.9 ok -> 0 / 1.4; action 1: 0.8 bad of 1.6 -> 0.8 / 2.1; action 2: 0.5 / 1.0
    assert got == pytest.approx({0: 0.0, 1: 0.8 / 2.1, 2: 0.5 / 1.0})


def test_failure_neighbours_need_to_be_close():
    failing = np.array([False, True, False, True, True])
    assert failure_neighbours(SIMS, LABELS, failing, ALL, k=3, min_sim=0.6) == \
        pytest.approx({1: 0.8})
    assert failure_neighbours(SIMS, LABELS, failing, ALL, k=3, min_sim=0.4) == \
        pytest.approx({1: 0.8, 2: 0.5})


def test_ranks_give_one_over_rank_with_ties_by_action_id():
    assert ranks({7: 0.2, 3: 0.5, 5: 0.2}) == {3: 1.0, 5: 0.5, 7: pytest.approx(1 / 3)}


def test_a_failing_step_whose_action_success_also_took_there_is_not_unusual():
    # unit vectors in 2-d: step 0 and 1 are the same situation, step 2 is orthogonal
    vecs = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    labels = np.array([4, 4, 9])
    failing = np.array([True, False, True])
    good = ~failing
    sims = np.array([0.9, 0.9, 0.7], dtype=np.float32)  # to the query
    sim, unusual = unusual_failures(sims, vecs, labels, failing, good, k=5, min_sim=0.6)
    assert sim == pytest.approx({4: 0.9, 9: 0.7})
    # action 4 failed where a success did the same (cosine 1): not unusual; nobody ever
    # succeeded with action 9: fully unusual
    assert unusual == pytest.approx({4: 0.0, 9: 1.0})
    assert nearest_success(sims, labels, good, [4, 9]) == pytest.approx({4: 0.9})


def test_the_avoid_threshold_follows_the_false_avoid_budget():
    from expgraph.memory.model import AdviceModel

    m = AdviceModel(threshold=0.8, quantiles=[i / 100 for i in range(101)])  # risk = quantile
    assert m.threshold_for(None) == 0.8
    assert m.threshold_for(0.05) == pytest.approx(0.95, abs=1e-6)
    assert m.threshold_for(0.40) == pytest.approx(0.60, abs=1e-6)
    assert AdviceModel(threshold=0.8).threshold_for(0.4) == 0.8  # never fitted: the default
    # calibrated on 100 episodes, the share above the threshold is widened by its one-sided
    # 95 % Wilson bound: 31 % of them gives at most 39.0 % (centre (0.31 + 1.645^2/200) /
    # 1.02706 = 0.3150, margin 1.645 x sqrt(0.31 x 0.69/100 + 1.645^2/40000) / 1.02706 =
    # 0.0752), 32 % gives 40.06 % > 40 %: the threshold is the 69th percentile
    m = AdviceModel(threshold=0.8, quantiles=[i / 100 for i in range(101)],
                    calibration_episodes=100)
    assert m.threshold_for(0.40) == pytest.approx(0.69, abs=1e-6)


def test_mentioned_is_the_share_of_an_actions_literal_words_a_text_names():
    from expgraph.memory.features import _arguments_text, _literal_words, words
    from expgraph.memory.sources import mentioned

    assert _literal_words("click[buy now]") == {"click", "buy", "now"}
    assert _literal_words("click[<item>]") == {"click"}  # a placeholder is not a word
    thought = words(_arguments_text("think[the options are large and x-large; pick large]"))
    assert "think" not in thought  # the previous action's own name does not count
    assert mentioned(_literal_words("click[large]"), thought) == pytest.approx(0.5)
    assert mentioned(_literal_words("click[small]"), thought) == 0.0
    assert mentioned(_literal_words("search[<query>]"), words("search for a red mug")) == 1.0
    assert mentioned(frozenset(), thought) == 0.0
    assert _arguments_text("get_order(order_id=7)") == "order_id=7)"


def test_failure_evidence_is_an_errored_step_or_what_no_success_did_in_that_state():
    from expgraph.memory.index import NO, failure_evidence

    # episodes: 0 succeeded; 1 failed and names its failing step (2); 2 failed, names none
    arr = {"episode": np.array([0, 0, 1, 1, 2, 2, 2]),
           "ok": np.array([True, True, False, False, False, False, False]),
           "err": np.array([False, False, True, False, False, False, False]),
           "state": np.array([10, 11, 10, 11, 10, 11, NO]),
           "label": np.array([1, 2, 3, 2, 1, 3, 2])}
    got = failure_evidence(arr, n_episodes=3, n_actions=4)
    # step 2: errored. step 3: its episode named another step. step 4: action 1 in state 10
    # is what success 0 did (routine). step 5: action 3 in state 11 no success took. step
    # 6: no state to compare, held against its action.
    assert got.tolist() == [False, False, True, False, False, True, True]


def test_the_avoid_calibration_scores_a_step_with_a_model_that_never_saw_its_task():
    from expgraph.memory.model import RISK_FEATURES, _cross_fitted

    rng = np.random.default_rng(0)
    x = rng.random((60, len(RISK_FEATURES)))
    y = (x[:, 0] > 0.5).astype(int)
    task = np.repeat(np.arange(6), 10)
    before = _cross_fitted(x, y, task)
    flipped = y.copy()
    flipped[0] = 1 - flipped[0]  # a label of task 0 changes
    after = _cross_fitted(x, flipped, task)
    assert before is not None and after is not None
    assert (after[task == 0] == before[task == 0]).all()  # task 0's scores never saw it
    assert not np.allclose(after[task != 0], before[task != 0])  # the other tasks' did
    assert _cross_fitted(x, y, np.zeros(60, int)) is None  # one task: nothing to hold out


def test_a_model_stored_by_another_version_falls_back_to_the_fixed_fusion():
    from expgraph.memory.model import DEFAULT_THRESHOLD, AdviceModel

    other = {"next": {"kind": "trees", "parts": []}, "risk": {"names": ["x"], "coef": [1.0],
                                                             "bias": 0.0}, "threshold": 0.9}
    m = AdviceModel.from_json(other)
    assert m.threshold == DEFAULT_THRESHOLD and m.trained_on == 0
    assert m.to_json() == AdviceModel().to_json()
