"""Abstract states: observations canonicalised into structural signatures, then merged.

Two observations are the same abstract state when their signatures match (values masked,
free text folded) or, failing that, when their signature embeddings have cosine >= the merge
threshold (see `STATE_MERGE_THRESHOLD`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from expgraph.models import stable_id

# Measured on the WebShop corpus (bench/state_threshold.py; 3,937 observations, 100 distinct
# signatures, 8 page kinds labelled from WebShop's own markers): the nearest signature of a
# DIFFERENT page kind is never above cosine 0.812 (an item page vs a results page), while
# same-kind neighbours sit at a median 0.93 (item pages 0.97, results pages 0.86). Every
# threshold from 0.85 to 0.98 merges no two kinds (purity 1.0); 0.80 starts to. 0.88 keeps a
# 0.07 margin above the worst cross-kind pair and merges 62 -> 54 states compared with 0.92.
STATE_MERGE_THRESHOLD = 0.88
MAX_SIGNATURE = 400
REPRESENTATIVE_CHARS = 600

_MASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"https?://\S+|www\.\S+"), "<url>"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), "<email>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<id>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b"), "<hash>"),
    (re.compile(r"(?:(?<=\s)|^)(?:\.{0,2}/)?(?:[\w.\-]+/)+[\w.\-]+"), "<path>"),
    (re.compile(r"\b[\w-]+\.(?:py|js|ts|json|txt|md|cfg|toml|yaml|yml|c|h|rs|go|java)\b"),
     "<file>"),
    (re.compile(r"\b(?=\w*\d)(?=\w*[a-z])\w{6,}\b"), "<id>"),
    (re.compile(r"\"[^\"\n]{0,200}\"|'[^'\n]{0,200}'"), "<str>"),
    (re.compile(r"[-+]?\$?\d+(?:[.,:]\d+)*%?"), "<num>"),
]
# A character every match of each mask contains: masks that cannot match are left out of the
# pass (most observations have no url, email, path or quote), which halves the masking time.
_DIGITS = tuple("0123456789")
_MASK_NEEDS: tuple[tuple[str, ...], ...] = (
    ("://", "www."), ("@",), ("-",), _DIGITS, ("/",), (".",), _DIGITS, ('"', "'"), _DIGITS)
_MASK_REPL = {f"m{i}": repl for i, (_, repl) in enumerate(_MASKS)}


@lru_cache(maxsize=512)
def _mask_pattern(active: tuple[int, ...]) -> re.Pattern[str]:
    """One pass over the text: the active masks as named alternatives, in the order above."""
    return re.compile("|".join(f"(?P<m{i}>{_MASKS[i][0].pattern})" for i in active))


def _mask(s: str) -> str:
    active = tuple(i for i, need in enumerate(_MASK_NEEDS) if any(n in s for n in need))
    if not active:
        return s
    return _mask_pattern(active).sub(lambda m: _MASK_REPL[m.lastgroup or ""], s)
_TOKEN = re.compile(r"\[[^\]\n]{0,120}\]|<\w+>|[a-z][a-z'\-]*:|[a-z][a-z'\-]*|\S")
_SPACE = re.compile(r"\s+")
_UI_WORDS = 3  # a bracketed label of up to three words is interface text, kept as it is


def _is_word(tok: str) -> bool:
    """A plain word token (what `_TOKEN` matches as `[a-z][a-z'-]*`, not a `label:`)."""
    return "a" <= tok[0] <= "z" and tok[-1] != ":"


def _fold(tokens: list[str]) -> list[str]:
    """Replace runs holding four or more plain words (with the values and punctuation between
    them) by one `<text>`; labels (`price:`) and bracketed elements end a run. A bracketed
    element right after a plain word (`color [black] [blue]`) is an option value: `[<opt>]`."""
    out: list[str] = []
    run: list[str] = []
    words = 0
    prev_option = False

    def flush() -> None:
        # Prose folds; a short line that is mostly values and punctuation (`your score (min
        # <num>, max <num>): <num>`) is structure and stays.
        if words > 2 * _UI_WORDS or (words > _UI_WORDS and 2 * words >= len(run)):
            out.append("<text>")
        else:
            out.extend(run)
        run.clear()

    for tok in tokens:
        if tok[0] == "[" and len(tok) > 1:
            after_word = bool(run) and _is_word(run[-1])
            flush()
            words = 0
            inner = tok[1:-1].strip()
            if after_word or prev_option:
                out.append("[<opt>]")
                prev_option = True
                continue
            keep = inner.startswith("<") or (len(inner.split()) <= _UI_WORDS and "<" not in inner)
            out.append(tok if keep else "[<text>]")
        elif tok[-1] == ":" and len(tok) > 1:
            flush()
            words = 0
            out.append(tok)
        else:
            run.append(tok)
            words += _is_word(tok)
        prev_option = False
    flush()
    return out


def _collapse_repeats(tokens: list[str]) -> list[str]:
    """`[a] <text> [a] <text> [a] <text>` -> `[a] <text> +`: lists of any length look alike."""
    for n in (1, 2, 3):
        size = len(tokens)
        if size < 2 * n:
            continue
        out: list[str] = []
        i = 0
        while i < size:
            if (i + 2 * n <= size and tokens[i] == tokens[i + n]
                    and tokens[i:i + n] == tokens[i + n:i + 2 * n]):
                gram = tokens[i:i + n]
                j = i + 2 * n
                while tokens[j:j + n] == gram:
                    j += n
                out.extend(gram)
                out.append("+")
                i = j
            else:
                out.append(tokens[i])
                i += 1
        tokens = out
    return tokens


@lru_cache(maxsize=65536)
def canonicalize(text: str) -> str:
    """Mask values (urls, ids, hashes, paths, quoted strings, numbers), fold free text into
    `<text>`, collapse repeated elements, fold white space."""
    s = _mask((text or "").lower())
    tokens = _collapse_repeats(_fold(_TOKEN.findall(s)))
    return " ".join(tokens)[:MAX_SIGNATURE] or "<empty>"


def state_id(signature: str) -> str:
    return stable_id("State", signature)


def representative(text: str) -> str:
    return _SPACE.sub(" ", text or "").strip()[:REPRESENTATIVE_CHARS]


class StateIndex:
    """In-memory signature -> state resolution used while ingesting or rebuilding.

    Keeps the known states' signature embeddings as one matrix so the similarity fallback is
    one matrix-vector product, and new states join it at once (later episodes of the same
    batch can merge into them).
    """

    def __init__(self, threshold: float = STATE_MERGE_THRESHOLD, dim: int = 384) -> None:
        self.threshold = threshold
        self.by_signature: dict[str, str] = {}
        self.ids: list[str] = []
        self._rows: list[np.ndarray] = []
        self._mat = np.zeros((0, dim), dtype=np.float32)
        self._dirty = False

    def add(self, sid: str, signature: str, vec: np.ndarray | None) -> None:
        self.by_signature[signature] = sid
        if vec is not None:
            self.ids.append(sid)
            self._rows.append(np.asarray(vec, dtype=np.float32))
            self._dirty = True

    def _matrix(self) -> np.ndarray:
        if self._dirty:
            self._mat = np.vstack(self._rows) if self._rows else self._mat
            self._dirty = False
        return self._mat

    def resolve(self, signature: str, vec: np.ndarray) -> tuple[str, bool]:
        """(state id, is_new). Exact signature first, then the nearest state above threshold."""
        known = self.by_signature.get(signature)
        if known is not None:
            return known, False
        mat = self._matrix()
        if len(self.ids):
            sims = mat @ vec
            best = int(np.argmax(sims))
            if sims[best] >= self.threshold:
                self.by_signature[signature] = self.ids[best]
                return self.ids[best], False
        sid = state_id(signature)
        self.add(sid, signature, vec)
        return sid, True
