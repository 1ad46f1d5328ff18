"""Optional LLM enrichment: readable names and descriptions for skills, root causes for
guardrails, through structured output into pydantic models.

Batched (BATCH items per call) and cached by content hash in the store's meta, so an item is
sent once and a later run without a model keeps the same text (online and offline agree).
Any failure of the model (exception, bad JSON, missing or empty fields) leaves the
deterministic text in place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from expgraph.models import GuardrailNode, SkillNode, content_hash
from expgraph.store.base import GraphStore

CACHE_META = "distill_llm_cache"
BATCH = 20


class SkillText(BaseModel):
    key: str
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(min_length=1, max_length=800)


class SkillTexts(BaseModel):
    items: list[SkillText]


class RootCause(BaseModel):
    key: str
    root_cause: str = Field(min_length=1, max_length=600)


class RootCauses(BaseModel):
    items: list[RootCause]


_SKILL_PROMPT = (
    "You name skills mined from AI agent trajectories. For each item give a short imperative "
    "name (max 8 words) and a one or two sentence description of what the procedure does and "
    "when to use it. Keep every `key`. Answer as JSON: {\"items\": [{\"key\", \"name\", "
    "\"description\"}]}.\n\nItems:\n")
_GUARD_PROMPT = (
    "Each item is a rule mined from failed agent runs. Explain its likely root cause in one "
    "sentence. Keep every `key`. Answer as JSON: {\"items\": [{\"key\", \"root_cause\"}]}."
    "\n\nItems:\n")


def skill_key(sk: SkillNode) -> str:
    return content_hash(json.dumps(["skill", sk.tier.value, sk.actions, sk.scope,
                                    sk.description], sort_keys=True))


def guardrail_key(g: GuardrailNode) -> str:
    return content_hash(json.dumps(["guardrail", g.rule, g.root_cause], sort_keys=True))


def _ask(llm: Any, schema: type[BaseModel], prompt: str) -> BaseModel | None:
    """Structured output when the model supports it, else JSON parsed from the reply."""
    try:
        try:
            out = llm.with_structured_output(schema).invoke(prompt)
            if isinstance(out, dict):
                out = schema.model_validate(out)
            if isinstance(out, schema):
                return out
        except (NotImplementedError, AttributeError):
            pass
        msg = llm.invoke(prompt)
        text = getattr(msg, "content", msg)
        if not isinstance(text, str):
            text = json.dumps(text)
        m = re.search(r"\{.*\}", text, re.S)
        return schema.model_validate_json(m.group(0)) if m else None
    except (ValidationError, ValueError):
        return None
    except Exception:  # noqa: BLE001 - a model that fails must never break distillation
        return None


def _run(llm: Any, schema: type[BaseModel], prompt: str, todo: dict[str, dict],
         cache: dict[str, dict]) -> int:
    calls = 0
    keys = sorted(todo)
    for i in range(0, len(keys), BATCH):
        chunk = keys[i:i + BATCH]
        body = json.dumps([{"key": k, **todo[k]} for k in chunk], indent=1)
        calls += 1
        out = _ask(llm, schema, prompt + body)
        for item in getattr(out, "items", []) or []:
            if item.key in todo:
                cache[item.key] = item.model_dump(exclude={"key"})
    return calls


def enrich(store: GraphStore, llm: Any, skills: Sequence[SkillNode],
           guardrails: Sequence[GuardrailNode]) -> int:
    """Apply cached enrichments; ask `llm` (when given) for the ones not cached yet.
    Returns how many items carry LLM text."""
    cache: dict[str, dict] = dict(store.get_meta(CACHE_META, {}) or {})
    if llm is not None:
        size = len(cache)
        todo_s = {skill_key(s): {"tier": s.tier.value, "actions": s.actions,
                                 "deterministic_name": s.name, "evidence": s.description}
                  for s in skills if skill_key(s) not in cache}
        todo_g = {guardrail_key(g): {"rule": g.rule, "observed": g.root_cause}
                  for g in guardrails if guardrail_key(g) not in cache}
        _run(llm, SkillTexts, _SKILL_PROMPT, todo_s, cache)
        _run(llm, RootCauses, _GUARD_PROMPT, todo_g, cache)
        if len(cache) != size:
            store.set_meta(CACHE_META, cache)
    done = 0
    for s in skills:
        hit = cache.get(skill_key(s))
        if hit:
            s.name, s.description = hit["name"], hit["description"]
            done += 1
    for g in guardrails:
        hit = cache.get(guardrail_key(g))
        if hit:
            g.root_cause = hit["root_cause"]
            done += 1
    return done
