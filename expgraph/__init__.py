"""expgraph: an experience knowledge base for LLM agents."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["ExperienceGraph", "Episode", "Step", "ActionCall", "Outcome"]

from expgraph.models import ActionCall, Episode, Outcome, Step


def __getattr__(name: str) -> Any:
    # The facade composes all three packages; import it lazily so the core stays importable
    # on its own (ingestion and queries import the core, never the other way round).
    if name == "ExperienceGraph":
        from expgraph.graph import ExperienceGraph

        return ExperienceGraph
    raise AttributeError(name)
