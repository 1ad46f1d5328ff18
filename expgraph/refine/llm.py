"""The optional rename pass: a merged skill's name and description rewritten by a
langchain-core chat model. Without a model, or when its answer is unusable, the deterministic
text (the winner's own) stays. Runs once per set of merged-in skills."""

from __future__ import annotations

import json
import re
from typing import Any

from expgraph.audit import add_history, touch
from expgraph.models import Label, NodeRecord, Status
from expgraph.refine.common import RefineContext, name_of
from expgraph.refine.report import Change, PassReport

_JSON = re.compile(r"\{.*\}", re.S)
MAX_NAME, MAX_DESCRIPTION = 80, 400

PROMPT = """These agent skills were found to be duplicates and merged into one.
{skills}
Write one short imperative name (at most 8 words) and a one-sentence description for the merged
skill. Answer with JSON only: {{"name": "...", "description": "..."}}"""


def skill_text(name: str, description: str, actions: list[str]) -> str:
    """Same text SkillNode.embed_text makes, so search and merges see the new wording."""
    return f"{name}. {description} Actions: {' -> '.join(actions)}"


def parse_naming(content: Any) -> tuple[str, str] | None:
    """(name, description) from a model answer, or None when it is not usable."""
    if isinstance(content, list):  # content blocks
        content = " ".join(c.get("text", "") if isinstance(c, dict) else str(c) for c in content)
    m = _JSON.search(str(content or ""))
    if not m:
        return None
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError:
        return None
    name = " ".join(str(data.get("name") or "").split())
    desc = " ".join(str(data.get("description") or "").split())
    if not name or len(name) > MAX_NAME or len(desc) > MAX_DESCRIPTION:
        return None
    return name, desc


def _ask(llm: Any, members: list[NodeRecord]) -> tuple[str, str] | None:
    lines = [f"- {m.props.get('name')}: {m.props.get('description', '')} "
             f"(actions: {' -> '.join(m.props.get('actions') or [])})" for m in members]
    try:
        answer = llm.invoke(PROMPT.format(skills="\n".join(lines)))
    except Exception:  # noqa: BLE001 - any model failure falls back to the deterministic text
        return None
    return parse_naming(getattr(answer, "content", answer))


def rename_pass(ctx: RefineContext) -> PassReport:
    report = PassReport(name="rename")
    if ctx.llm is None:
        report.note = "no chat model given"
        return report
    changed: list[NodeRecord] = []
    for rec in ctx.store.find_nodes(Label.SKILL):
        merged = sorted(rec.props.get("merged_from") or [])
        if not merged or rec.props.get("status") not in (Status.ACTIVE.value,
                                                          Status.DEPRECATED.value):
            continue
        if (rec.props.get("renamed_for") or {}).get("losers") == merged:
            continue
        naming = _ask(ctx.llm, [rec, *ctx.store.get_nodes(merged)])
        before = {"name": rec.props.get("name"), "description": rec.props.get("description")}
        if naming is None:
            rec.props["renamed_for"] = {"losers": merged, "by": "fallback"}
            add_history(rec.props, "rename fallback", "model answer unusable", ctx.now)
            report.add(Change(id=rec.id, label="Skill", name=name_of(rec), kind="fallback",
                              before=before, after=before))
        else:
            name, desc = naming
            rec.props.update(name=name, description=desc,
                             renamed_for={"losers": merged, "by": "llm"})
            rec.text = skill_text(name, desc, rec.props.get("actions") or [])
            add_history(rec.props, "renamed", before, ctx.now)
            report.add(Change(id=rec.id, label="Skill", name=name, kind="renamed",
                              before=before, after={"name": name, "description": desc}))
        touch(rec, ctx.now)
        if naming is not None and ctx.embedder is not None:
            rec.embedding = ctx.embedder.embed([rec.text])[0].tolist()
        changed.append(rec)
    ctx.write(changed)
    return report
