"""Step nodes from an episode's compact steps: the one path for ingest and for a rebuild that
meets episodes stored before steps were kept."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from expgraph.models import ActionNode, EdgeRecord, NodeRecord, Rel, StepNode, stable_id

# A chat observation is its messages since the previous action, joined with role prefixes
# (ingestion/adapters/chat.py); the newest message is the last of them.
_MESSAGE_START = re.compile(r"(?:^|\n\n)(?:user|assistant|tool|human|ai|function|system): ",
                            re.I)
MAX_VIEW = 2000  # chars of each view kept on the node
# store meta counting the rebuilds that rewrote the Step nodes in place (their states, rewards):
# a step memory built before the last one reads stale steps
STEPS_REWRITTEN_META = "steps_rewritten"
# `name[argument]`: an action a text agent writes (`think[...]`, `click[Buy Now]`, `search[...]`)
TEXT_CALL = re.compile(r"^\s*[A-Za-z_][\w\-]*\s*\[.*\]\s*$", re.S)


def newest_message(observation: str) -> str:
    """The last message of a chat-shaped observation; the observation itself otherwise."""
    starts = [m.start() for m in _MESSAGE_START.finditer(observation)]
    if len(starts) <= 1:
        return observation.strip()
    return observation[starts[-1]:].strip()


def step_views(observation: str) -> tuple[str, str]:
    """(newest message, whole window), each cut to MAX_VIEW; the embedder sees a prefix."""
    obs = observation or ""
    return newest_message(obs)[:MAX_VIEW], obs.strip()[:MAX_VIEW]


def written(raw: str | None, key: str) -> str:
    """An action as an agent passes it in its history: a text call as it wrote it (a thought
    in full, `click[B09PVHDLQY]`), anything else by its key (a tool call's name)."""
    return raw if raw and TEXT_CALL.match(raw) else key


def said_texts(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each step's previous action as written (`written`; "" for the first step), from one
    episode's compact steps (or Step node props) in order: the step memory's third view
    (what an agent's own thought says comes next)."""
    out = [""]
    for s in steps[:-1]:
        out.append(written(s.get("raw"), s.get("key") or s.get("action") or s.get("name") or "")
                   [:MAX_VIEW])
    return out[:len(steps)]


def step_id(episode_node_id: str, index: int) -> str:
    return stable_id("Step", episode_node_id, index)


def step_texts(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every text the step nodes of these compact steps embed (for batched embedding)."""
    out: list[str] = []
    for s in steps:
        out += step_views(s.get("observation") or "")
    return out


def step_records(episode_node_id: str, task: str, success: bool | None,
                 steps: Sequence[Mapping[str, Any]], vecs: Mapping[str, np.ndarray],
                 namespace: str, now: str, views: Sequence[tuple[str, str]] | None = None,
                 ) -> tuple[list[NodeRecord], list[EdgeRecord]]:
    """Step nodes with their newest-message embedding, and their STEP_OF / TAKES edges.
    `views` are the steps' (newest, window) from their full observations (ingest has them);
    without them they come from the stored, cut observations. IN_STATE edges come from the
    replay (states are derived)."""
    nodes: list[NodeRecord] = []
    edges: list[EdgeRecord] = []
    keys = [s.get("key") or s.get("action") or "" for s in steps]
    for i, s in enumerate(steps):
        newest, window = views[i] if views is not None else step_views(
            s.get("observation") or "")
        node = StepNode(id=step_id(episode_node_id, i), episode=episode_node_id, index=i,
                        task=task, newest=newest, window=window, key=keys[i],
                        name=s.get("action") or "", arguments=s.get("arguments") or {},
                        raw=s.get("raw"), prev=keys[max(0, i - 2):i][::-1], success=success,
                        error=bool(s.get("error")), reward=s.get("reward"), state=s.get("state"),
                        created_at=now, updated_at=now)
        rec = node.to_record(namespace)
        rec.embedding = vecs[newest].tolist() if newest in vecs else None
        nodes.append(rec)
        edges.append(EdgeRecord.model_construct(src=rec.id, dst=episode_node_id, type=Rel.STEP_OF,
                                                key="", props={"index": i}, namespace=namespace))
        action_id = ActionNode(name=node.name).id if node.name else None
        if action_id:
            edges.append(EdgeRecord.model_construct(src=rec.id, dst=action_id, type=Rel.TAKES,
                                                    key="", props={}, namespace=namespace))
    return nodes, edges
