"""Episode replay: one episode's observations -> abstract states, VISITS and TRANSITION
records. The one path behind both the ingest pipeline (each new episode, online) and the
offline rebuild (every stored episode in `seq` order), so both hold the same states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expgraph.distill.states import StateIndex, canonicalize, representative
from expgraph.memory.records import step_id
from expgraph.models import EdgeRecord, Rel, StateNode

PROVENANCE_SAMPLE = 20  # episode ids kept on each state as provenance


@dataclass
class EpisodeReplay:
    state_ids: list[str] = field(default_factory=list)  # before each step, then after the last
    new_states: dict[str, StateNode] = field(default_factory=dict)  # first met in this episode
    visits: list[EdgeRecord] = field(default_factory=list)
    transitions: list[EdgeRecord] = field(default_factory=list)  # count 1 each: accumulate
    step_states: list[EdgeRecord] = field(default_factory=list)  # Step -IN_STATE-> State


def signatures(steps: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(signatures, raw texts) of each step's observation, then of the last result when there
    is one. A signature already stored on the step wins (stored observations are cut)."""
    raws = [s.get("observation") or "" for s in steps]
    sigs = [s.get("signature") or canonicalize(r) for s, r in zip(steps, raws, strict=True)]
    if steps and steps[-1].get("result") is not None:
        raws.append(steps[-1]["result"])
        sigs.append(steps[-1].get("next_signature") or canonicalize(steps[-1]["result"]))
    return sigs, raws


def replay_episode(episode_id: str, steps: Sequence[dict[str, Any]], sigs: Sequence[str],
                   raws: Sequence[str], success: bool, vecs: Mapping[str, np.ndarray],
                   index: StateIndex, namespace: str, now: str) -> EpisodeReplay:
    """Resolve the episode's signatures into states (growing `index`), write each step's
    `state` / `next_state` into its dict, and build the episode's VISITS and TRANSITION edges."""
    out = EpisodeReplay()
    for sig, raw in zip(sigs, raws, strict=False):
        sid, is_new = index.resolve(sig, vecs[sig])
        out.state_ids.append(sid)
        if is_new:
            out.new_states[sid] = StateNode(id=sid, signature=sig, created_at=now,
                                            representative=representative(raw), updated_at=now)
    ids = out.state_ids
    ok = 1 if success else 0
    for i, sid in enumerate(ids):
        out.visits.append(EdgeRecord.model_construct(src=episode_id, dst=sid, type=Rel.VISITS,
                                                     key=str(i), props={"step": i},
                                                     namespace=namespace))
    for i, step in enumerate(steps):
        step["state"] = ids[i] if i < len(ids) else None
        step["next_state"] = ids[i + 1] if i + 1 < len(ids) else None
        if step["state"]:
            out.step_states.append(EdgeRecord.model_construct(
                src=step_id(episode_id, i), dst=step["state"], type=Rel.IN_STATE, key="",
                props={}, namespace=namespace))
        if i + 1 >= len(ids):
            continue
        key = step.get("key") or step.get("action", "")
        out.transitions.append(EdgeRecord.model_construct(
            src=ids[i], dst=ids[i + 1], type=Rel.TRANSITION, key=key,
            props={"action": key, "name": step.get("action", ""), "count": 1, "successes": ok,
                   "errors": int(bool(step.get("error")))}, namespace=namespace))
    return out


def with_sample(sample: Sequence[str], episode_id: str) -> list[str]:
    """A state's provenance sample with `episode_id` added while there is room."""
    if len(sample) < PROVENANCE_SAMPLE and episode_id not in sample:
        return [*sample, episode_id]
    return list(sample)
