"""One adapter per input format. Each has `name`, `sniff(path, head) -> bool` and
`read(path) -> Iterator[Episode | ParseError]`.

`DETECTION_ORDER` is the order auto-detection tries them: the most specific layouts first
(their markers cannot appear in the general ones), plain chat after them, text logs last.
`generic` is never guessed; it needs a mapping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from expgraph.models import Episode
from ingestion.adapters.canonical import CanonicalAdapter
from ingestion.adapters.chat import OpenAIChatAdapter
from ingestion.adapters.generic import GenericAdapter
from ingestion.adapters.langchain import LangChainAdapter
from ingestion.adapters.mini_swe_agent import MiniSweAgentAdapter
from ingestion.adapters.react_text import ReactTextAdapter
from ingestion.adapters.reflexion import ReflexionAdapter
from ingestion.adapters.swe_agent import SweAgentAdapter
from ingestion.adapters.tau_bench import TauBenchAdapter
from ingestion.errors import ParseError


class Adapter(Protocol):
    name: str

    def sniff(self, path: Path, head: str) -> bool: ...

    def read(self, path: Path) -> Iterator[Episode | ParseError]: ...


DETECTION_ORDER: tuple[Adapter, ...] = (
    TauBenchAdapter(),
    MiniSweAgentAdapter(),
    SweAgentAdapter(),
    CanonicalAdapter(),
    LangChainAdapter(),
    OpenAIChatAdapter(),
    ReflexionAdapter(),
    ReactTextAdapter(),
)

ADAPTERS: dict[str, Adapter] = {a.name: a for a in DETECTION_ORDER}

__all__ = [
    "ADAPTERS",
    "DETECTION_ORDER",
    "Adapter",
    "CanonicalAdapter",
    "GenericAdapter",
    "LangChainAdapter",
    "MiniSweAgentAdapter",
    "OpenAIChatAdapter",
    "ReactTextAdapter",
    "ReflexionAdapter",
    "SweAgentAdapter",
    "TauBenchAdapter",
]
