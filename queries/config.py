"""Search configuration as data: which signals, how they are fused, how far the graph walk
goes. Named presets in the manner of graphiti's `search_config_recipes.py`; a caller may pass
a preset name or a whole `SearchConfig`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from expgraph.models import Rel

SIGNALS = ("dense", "sparse", "graph", "utility")


class UnknownPresetError(ValueError):
    """A preset name that is not defined; the message lists the ones that are."""


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dense: float = Field(default=0.0, ge=0)
    sparse: float = Field(default=0.0, ge=0)
    graph: float = Field(default=0.0, ge=0)
    utility: float = Field(default=0.0, ge=0)

    def active(self) -> dict[str, float]:
        return {s: w for s in SIGNALS if (w := getattr(self, s)) > 0}


class GraphConfig(BaseModel):
    """The walk from the states nearest to the query.

    Seeds are the State whose signature equals the query's (weight 1) or, when there is none,
    the `seed_states` nearest State embeddings of the query's signature (cosine >=
    `seed_min_sim`, weight exp((cos - best) / seed_temperature), where `best` is the cosine of
    the closest of them: the nearest known state counts fully). `store.expand` then spreads
    each seed's weight over `rels` for `hops` hops, multiplying by `decay` per hop and splitting
    it among a node's neighbours (a truncated personalised PageRank).

    hops=2 is the smallest radius that reaches everything a state vouches for: hop 1 holds the
    skills that apply in the state, the guardrails guarding it and the failures observed in it;
    hop 2 holds the composite skills and plans built from those skills, the guardrails guarding
    those skills and the guardrails that prevent those failures. A third hop walks back out to
    the *other* states those items apply in and their items, which is neighbourhood noise.
    decay=0.5 keeps hop-2 items below the direct ones without silencing them.
    TRANSITION is left out by default: a hub state (the search page) has one parallel edge per
    distinct query, so it would swallow nearly all of the walk's mass. LEADS_TO is left out
    too: a skill that *ends* in this state has been done already.
    The task walk is separate: the `task_seeds` nearest Task nodes, one hop over PLANS_FOR, so
    the strategic plans for tasks like this one score `task_seed_weight * similarity`.
    """

    model_config = ConfigDict(extra="forbid")

    hops: int = Field(default=2, ge=0, le=4)
    decay: float = Field(default=0.5, gt=0, le=1)
    rels: list[Rel] = Field(default_factory=lambda: [
        Rel.APPLIES_IN, Rel.GUARDS, Rel.COMPOSED_OF, Rel.PREVENTS, Rel.OBSERVED_IN])
    seed_states: int = Field(default=5, ge=0)
    seed_min_sim: float = Field(default=0.6, ge=-1, le=1)
    seed_temperature: float = Field(default=0.05, ge=0,
                                    description="sharpness of the seed weights (0 = flat)")
    seed_min_weight: float = Field(default=0.01, ge=0,
                                   description="seeds lighter than this are dropped")
    # Near-twin observations are merged into one State at ingest (cosine >= 0.92), so the
    # neighbours of an exactly matching state weigh <= exp(-0.08 / 0.05) = 0.2 each; on
    # WebShop seeding them changed no metric (bench/retrieval.py) and costs a model call.
    neighbours_with_exact: bool = Field(
        default=False, description="also seed the nearest states when one matches exactly")
    task_seeds: int = Field(default=3, ge=0, description="nearest Task nodes seeded (PLANS_FOR)")
    task_seed_weight: float = Field(default=0.2, ge=0)


class SuggestConfig(BaseModel):
    """How `suggest` mixes what happened next from nearby states with what skills prescribe."""

    model_config = ConfigDict(extra="forbid")

    transitions: float = Field(default=1.0, ge=0,
                               description="weight of the next actions observed from nearby states")
    skills: float = Field(default=0.5, ge=0,
                          description="weight of the next actions the retrieved skills prescribe")
    guardrails: float = Field(default=1.0, ge=0, description="weight of guardrails' forbidden "
                              "actions in `avoid`")
    errors: float = Field(default=1.0, ge=0, description="weight in `avoid` of the actions that "
                          "errored from nearby states (Wilson lower bound of the error rate)")
    # Each template's share of a state's transitions is already scaled by 1 + the Wilson lower
    # bound of its success rate; on WebShop extra credit per success (1.0, 5.0) only lowered
    # MRR (bench/retrieval.py), so it is off by default.
    success_weight: float = Field(default=0.0, ge=0,
                                  description="extra count per transition taken in a successful "
                                              "episode (0 = frequency x Wilson utility only)")
    skill_pool: int = Field(default=20, ge=0, description="skills consulted")
    guardrail_pool: int = Field(default=10, ge=0)


class SearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "custom"
    weights: Weights = Field(default_factory=Weights)
    fusion: Literal["rrf", "weighted"] = "rrf"
    normalization: Literal["minmax", "rank"] = "minmax"
    rrf_k: int = Field(default=60, ge=1)
    pool: int = Field(default=50, ge=1, description="candidates taken from each signal")
    task_weight: float = Field(default=0.3, ge=0, le=1,
                               description="share of the task embedding in the dense query")
    graph: GraphConfig = Field(default_factory=GraphConfig)
    suggest: SuggestConfig = Field(default_factory=SuggestConfig)

    def uses(self, signal: str) -> bool:
        return getattr(self.weights, signal) > 0


def _single(name: str) -> SearchConfig:
    return SearchConfig(name=name, weights=Weights(**{name: 1.0}), fusion="weighted")


PRESETS: dict[str, SearchConfig] = {
    "dense": _single("dense"),
    "sparse": _single("sparse"),
    "graph": _single("graph"),
    "hybrid": SearchConfig(name="hybrid",
                           weights=Weights(dense=1.0, sparse=0.5, graph=1.0, utility=0.3),
                           fusion="rrf"),
}


def get_config(preset: str | SearchConfig) -> SearchConfig:
    if isinstance(preset, SearchConfig):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise UnknownPresetError(
            f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}") from None
