"""LangChain integration: a retriever over the experience graph and a tool an agent calls.

`ExperienceRetriever(graph=g, k=5, task="...")` turns each query result into a `Document`
(readable text as page_content, the result's JSON as metadata). `make_experience_tool(g)`
returns a StructuredTool that answers with `suggest` (or `query`) JSON.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, ConfigDict, Field


class ExperienceRetriever(BaseRetriever):
    """Skills and guardrails that apply in the state given as the query string."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    graph: Any = Field(description="an ExperienceGraph")
    k: int = 5
    task: str | None = None
    preset: str = "hybrid"
    kinds: tuple[str, ...] = ("skill", "guardrail")
    explain: bool = False

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        res = self.graph.query(query, task=self.task, k=self.k, kinds=self.kinds,
                               explain=self.explain, preset=self.preset)
        return [Document(page_content=r.text(), metadata=r.model_dump(mode="json"), id=r.id)
                for r in res.results]


class ExperienceToolInput(BaseModel):
    state: str = Field(description="what you see now: your latest observation, verbatim")
    task: str | None = Field(default=None, description="the task you are working on")
    history: list[str] | None = Field(default=None,
                                      description="your recent actions, oldest first")
    candidates: list[str] | None = Field(
        default=None, description="the concrete actions you can take now; if given, they are "
                                  "ranked and the risky ones flagged")
    mode: Literal["suggest", "query"] = Field(
        default="suggest", description="suggest: next actions and actions to avoid; "
                                       "query: the skills and guardrails that apply")
    k: int = Field(default=5, ge=1, le=50)


def make_experience_tool(graph: Any, name: str = "experience") -> StructuredTool:
    """A tool that asks the experience graph what worked (and failed) in states like this."""

    def run(state: str, task: str | None = None, history: list[str] | None = None,
            mode: str = "suggest", k: int = 5, candidates: list[str] | None = None) -> str:
        if mode == "query":
            res = graph.query(state, task=task, k=k)
        else:
            res = graph.suggest(state, task=task, history=history, k=k, candidates=candidates)
        return json.dumps(res.model_dump(mode="json"))

    return StructuredTool.from_function(
        func=run, name=name, args_schema=ExperienceToolInput,
        description="Ask past experience what to do in the current state: the next actions "
                    "that worked from similar states (with support) and the actions to avoid "
                    "(with the guardrails behind them). Returns JSON.")
