"""Ingestion: agent logs in many formats -> canonical `Episode`s (plus live recording).

The LangChain callback handler lives in `ingestion.langchain_callback` (imported on demand, so
reading files never imports langchain-core).
"""

from ingestion.detect import SUPPORTED_FORMATS, detect_format, episodes_from_object, open_source
from ingestion.errors import FormatError, ParseError
from ingestion.record import EpisodeRecorder

__all__ = [
    "SUPPORTED_FORMATS",
    "EpisodeRecorder",
    "FormatError",
    "ParseError",
    "detect_format",
    "episodes_from_object",
    "open_source",
]
