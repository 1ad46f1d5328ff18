"""placeholder"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expgraph.models import Episode  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "react_webshop" / "episodes.txt"


def load_episodes(path: Path) -> Iterator[Episode]:
    """The corpus' episodes through the format detector (or the ReAct adapter directly)."""
    try:
        from ingestion.detect import open_source
        items = open_source(path, format="auto")
    except ImportError:
        from ingestion.adapters.react_text import ReactTextAdapter
        items = ReactTextAdapter().read(path)
    for it in items:
        if isinstance(it, Episode):
            yield it
