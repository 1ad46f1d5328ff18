"""The learned fusion (which candidate is the next action) and the avoid model (does this
action fail here), both logistic regressions over `features`, fit on the store's own
episodes with out-of-fold features: no step is scored with its own episode visible (nor
the rest of its fold of episodes, see `_episode_folds`), and for half of them (chosen by a
hash of the step id) its whole task is hidden too, so the model also learns what to trust on
tasks it has never seen. The avoid threshold is calibrated on risks of models fit without
the task (cross-fitted). Deterministic for a given store.

A model is a list of coefficients in the store's metadata: `explain=True` shows each
feature's contribution (coefficient x value). With too little data a fixed fusion is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expgraph.memory.features import (
    NEXT_FEATURES,
    RISK_FEATURES,
    Embed,
    Probe,
    as_written,
    candidate_rows,
)
from expgraph.memory.index import NO, StepMemory
from expgraph.scoring import wilson_lower_bound

META_KEY = "advice.model"
MIN_TRAINING_STEPS = 30
MAX_TRAINING_STEPS = 3000
FEATURE_FOLDS = 5  # a training step is scored without its fold of episodes
CALIBRATION_FOLDS = 5  # the avoid threshold reads risks from models fit without the task
FALSE_AVOID = 0.05  # share of a new episode's successful actions flagged (95 % confidence)
Z_ONE_SIDED = 1.645

# Used until a refine pass has fit the store (or when it has too few steps to fit).
DEFAULT_NEXT = {"knn_newest": 2.0, "knn_window": 1.0, "knn_task": 1.5, "knn_history": 1.5,
                "nearest_newest": 0.5, "same_task": 2.0, "markov1": 1.0, "markov2": 1.0,
                "markov_cluster": 0.5, "state": 0.5, "skill": 0.5, "position": 0.3,
                "prior": 0.2, "risk": -1.0, "confident_newest": 1.0, "confident_task": 1.0}
DEFAULT_RISK = {"risk_knn": 2.0, "failure_nearest": 1.0, "guardrail": 2.0, "state_failed": 1.0,
                "failure_unusual": 3.0, "failure_margin": 3.0, "error_nearest": 3.0}
DEFAULT_RISK_BIAS = -3.0
DEFAULT_THRESHOLD = 0.6


@dataclass
class Linear:
    names: tuple[str, ...]
    coef: np.ndarray
    bias: float = 0.0

    def score(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef + self.bias

    def prob(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.score(x)))

    def contributions(self, row: np.ndarray) -> dict[str, float]:
        return {n: round(float(c * v), 6) for n, c, v in zip(self.names, self.coef, row,
                                                               strict=True) if v}

    def to_json(self) -> dict[str, Any]:
        return {"names": list(self.names), "coef": [float(c) for c in self.coef],
                "bias": float(self.bias)}

    @classmethod
    def from_json(cls, d: dict[str, Any], names: tuple[str, ...]) -> Linear:
        by_name = dict(zip(d["names"], d["coef"], strict=True))
        return cls(names, np.asarray([by_name.get(n, 0.0) for n in names]), float(d["bias"]))


def _default(weights: dict[str, float], names: tuple[str, ...], bias: float = 0.0) -> Linear:
    return Linear(names, np.asarray([weights.get(n, 0.0) for n in names]), bias)


@dataclass
class AdviceModel:
    next: Linear = field(default_factory=lambda: _default(DEFAULT_NEXT, NEXT_FEATURES))
    risk: Linear = field(default_factory=lambda: _default(DEFAULT_RISK, RISK_FEATURES,
                                                          DEFAULT_RISK_BIAS))
    threshold: float = DEFAULT_THRESHOLD
    trained_on: int = 0  # training steps (0 = the fixed fusion)
    report: dict[str, Any] = field(default_factory=dict)
    # risk of the store's own successful actions at the quantiles 0, 0.01, ..., 1
    quantiles: list[float] = field(default_factory=list)
    calibration_episodes: int = 0  # the episodes those actions come from

    def threshold_for(self, max_false_avoid: float | None) -> float:
        """The risk above which an action is flagged, so that at most `max_false_avoid` of
        a new episode's successful actions would be, with 95 % confidence: the share of the
        store's own successful actions above the threshold, widened by its Wilson interval
        over the episodes they come from (steps of one run are not independent), stays
        within the budget. The calibrated default when None."""
        if max_false_avoid is None or not self.quantiles:
            return self.threshold
        return calibrated_threshold(self.quantiles, self.calibration_episodes,
                                    float(max_false_avoid))

    def to_json(self) -> dict[str, Any]:
        return {"next": self.next.to_json(), "risk": self.risk.to_json(),
                "threshold": self.threshold, "trained_on": self.trained_on,
                "report": self.report, "quantiles": self.quantiles,
                "calibration_episodes": self.calibration_episodes}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> AdviceModel:
        if not d:
            return cls()
        if not all(isinstance(d.get(k), dict) and {"names", "coef", "bias"} <= d[k].keys()
                   for k in ("next", "risk")):
            return cls()  # written by another version: the fixed fusion until the next refine
        return cls(next=Linear.from_json(d["next"], NEXT_FEATURES),
                   risk=Linear.from_json(d["risk"], RISK_FEATURES),
                   threshold=float(d["threshold"]), trained_on=int(d.get("trained_on", 0)),
                   report=dict(d.get("report") or {}),
                   quantiles=[float(x) for x in d.get("quantiles") or []],
                   calibration_episodes=int(d.get("calibration_episodes", 0)))


def calibrated_threshold(quantiles: Sequence[float], episodes: int, budget: float) -> float:
    """The lowest grid threshold (a quantile of the successful actions' risk, just above it)
    whose flagged share's one-sided 95 % Wilson upper bound over `episodes` is <= `budget`."""
    n = len(quantiles) - 1
    for i in range(n + 1):
        share = 1.0 - i / n  # at most this share lies strictly above quantiles[i]
        upper = (1.0 - wilson_lower_bound((1.0 - share) * episodes, episodes, z=Z_ONE_SIDED)
                 if episodes > 0 else share)  # a model stored before episodes were counted
        if share == 0.0 or upper <= budget + 1e-9:
            return float(quantiles[i]) + 1e-9
    return float(quantiles[-1]) + 1e-9


def load_model(store: Any) -> AdviceModel:
    return AdviceModel.from_json(store.get_meta(META_KEY))


def _hidden_task(step_id: str) -> bool:
    return hashlib.blake2b(step_id.encode(), digest_size=2).digest()[0] % 2 == 0


def training_probes(mem: StepMemory, limit: int = MAX_TRAINING_STEPS,
                    embed: Embed | None = None) -> list[tuple[int, Probe]]:
    """(step index, probe) for up to `limit` steps, chosen by a hash of their id (the same
    store gives the same sample), each blind to its own episode (and half to its task)."""
    a = mem.arrays
    order = sorted(range(len(mem)),
                   key=lambda i: hashlib.blake2b(mem.step_ids[i].encode(), digest_size=8).digest())
    fold = _episode_folds(a["episode"])
    hidden = [fold == f for f in range(FEATURE_FOLDS)]
    out = []
    for i in order[:limit]:
        hist_ids: list[int] = []
        if a["prev1"][i] != NO:
            hist_ids = [int(a["prev1"][i])]
            if a["prev2"][i] != NO:
                hist_ids.insert(0, int(a["prev2"][i]))
        probe = Probe(new=a["new"][i], win=a["win"][i],
                      task=a["task_vecs"][a["task"][i]] if len(a["task_vecs"]) else None,
                      history=hist_ids, history_templates=[mem.actions[h] for h in hist_ids],
                      state=mem.state[i],
                      history_text=mem.prev_keys[i][0] if mem.prev_keys[i] else "",
                      task_text=mem.tasks[int(a["task"][i])],
                      history_raw=[as_written(mem, j) for j in sorted(
                          mem.earlier_in_episode(i), key=mem.position.__getitem__)],
                      embed=embed, said=a["said"][i] if a["prev1"][i] != NO else None,
                      exclude_episode=int(a["episode"][i]),
                      exclude_task=int(a["task"][i]) if _hidden_task(mem.step_ids[i]) else NO,
                      hide=hidden[fold[i]])
        out.append((i, _with_position(probe, int(a["position"][i]))))
    return out


def _episode_folds(episode: np.ndarray) -> np.ndarray:
    """Each step's fold, FEATURE_FOLDS of them by a hash of its episode. A training step is
    scored without its whole fold, not only without its own episode: leaving out one episode
    moves a share of the step's situation ("failed 3 of 8 here") down when the step failed
    and up when it succeeded, a trace of its own label that the model learns (the same
    situation reads lower for its failures) and a new task never shows; leaving out a fifth
    of the episodes blurs that trace with the rest of the fold."""
    h = (episode.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    return (h % np.uint64(FEATURE_FOLDS)).astype(np.int64)


def _with_position(probe: Probe, position: int) -> Probe:
    """Pad the history so its length is the step number (only the last two are known)."""
    pad = max(position - len(probe.history), 0)
    probe.history = [-3] * pad + probe.history
    probe.history_templates = [""] * pad + probe.history_templates
    return probe


SUSPECT = 0.9  # a failed run's step is a failing action when no successful step this close took it


def _failing_action(a: dict[str, np.ndarray], good: np.ndarray, i: int) -> bool | None:
    """Was step `i` of a failed episode (or an errored step) a failing action? Errored: yes.
    In a failed episode whose failing step is known (errored), its other steps are left out
    (None). Otherwise yes when no successful step in a situation this close (cosine >=
    SUSPECT) took the same action; a routine action successful runs also took is left out."""
    if a["err"][i]:
        return True
    if not a["failing"][i]:
        return None  # its episode names the step that failed, and it is not this one
    same = good & (a["label"] == a["label"][i]) & (a["episode"] != a["episode"][i])
    if not same.any():
        return True
    return True if float(np.max(a["new"][same] @ a["new"][i])) < SUSPECT else None


def _fit_risk(x: np.ndarray, y: np.ndarray) -> Linear:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(x, y)
    return Linear(RISK_FEATURES, lr.coef_[0].astype(float), float(lr.intercept_[0]))


def _cross_fitted(x: np.ndarray, y: np.ndarray, task: np.ndarray) -> np.ndarray | None:
    """Each row's risk from a model fit without its task (CALIBRATION_FOLDS folds by task):
    the threshold is read where a new task's successful actions land, not where the rows the
    model was fit on do. None with fewer than two tasks, or when a fold's rest holds one
    class only (the model's own scores then)."""
    from sklearn.model_selection import GroupKFold

    folds = min(CALIBRATION_FOLDS, len(np.unique(task)))
    if folds < 2:
        return None
    out = np.zeros(len(y))
    for train, held in GroupKFold(folds).split(x, y, task):
        if not 0 < y[train].sum() < len(train):
            return None
        out[held] = _fit_risk(x[train], y[train]).prob(x[held])
    return out


def fit(mem: StepMemory, embed: Embed | None = None) -> AdviceModel:
    """Fit both models on the memory's own steps (see the module docstring); `embed` (the
    store's embedder) reads the `plan` feature's values as `suggest` does."""
    from sklearn.linear_model import LogisticRegression

    a = mem.arrays
    failing = ~a["ok"] | a["err"]  # steps that are not plain successes
    nx_rows, ny, groups, rx_rows, ry, r_task = [], [], [], [], [], []
    ok_risk: list[int] = []  # rows of successful actions, task hidden: what a new task sees
    ok_episodes: set[int] = set()
    probes = training_probes(mem, embed=embed)
    good = a["ok"] & ~a["err"]
    for g, (i, probe) in enumerate(probes):
        rows = candidate_rows(mem, probe)
        truth = int(a["label"][i])
        bad = _failing_action(a, good, i) if failing[i] else False
        if truth in rows.candidates and bad is not None:
            r = rows.candidates.index(truth)
            rx_rows.append(rows.risk_x[r])
            ry.append(int(bad))
            r_task.append(int(a["task"][i]))
            if not failing[i] and probe.exclude_task != NO:
                ok_risk.append(len(rx_rows) - 1)
                ok_episodes.add(int(a["episode"][i]))
        if failing[i] or not rows.candidates:
            continue
        nx_rows.append(rows.next_x)
        ny += [int(c == truth) for c in rows.candidates]
        groups.append(g)
    model = AdviceModel()
    n_steps = len(groups)
    report: dict[str, Any] = {"next_training_steps": n_steps}
    if n_steps >= MIN_TRAINING_STEPS and 0 < sum(ny) < len(ny):
        x = np.vstack(nx_rows)
        lr = LogisticRegression(C=1.0, max_iter=2000)
        lr.fit(x, np.asarray(ny))
        model.next = Linear(NEXT_FEATURES, lr.coef_[0].astype(float), float(lr.intercept_[0]))
        model.trained_on = n_steps
    ry_arr = np.asarray(ry)
    ok_scores = None
    report["risk_training_steps"] = int(ry_arr.size)
    report["risk_failing_steps"] = int(ry_arr.sum()) if ry_arr.size else 0
    if ry_arr.size >= MIN_TRAINING_STEPS and 0 < ry_arr.sum() < ry_arr.size:
        rx = np.vstack(rx_rows)
        model.risk = _fit_risk(rx, ry_arr)
        held_out = _cross_fitted(rx, ry_arr, np.asarray(r_task))
        if held_out is not None:
            ok_scores = held_out[ok_risk]
    if ok_risk:
        scores = np.sort(ok_scores if ok_scores is not None
                         else model.risk.prob(np.vstack([rx_rows[j] for j in ok_risk])))
        model.quantiles = [round(float(x), 6) for x in np.quantile(scores, np.linspace(0, 1, 101))]
        model.calibration_episodes = len(ok_episodes)
        cut = calibrated_threshold(model.quantiles, model.calibration_episodes, FALSE_AVOID)
        model.threshold = float(min(max(cut, 0.5), 0.999))
        report["false_avoid_on_store"] = float(np.mean(scores >= model.threshold))
    model.report = report
    return model
