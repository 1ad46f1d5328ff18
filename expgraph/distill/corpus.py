"""The episodes as distillation sees them: read once from the store, steps reduced to templates
and *effective* states, each step tagged with the failure signals found in it.

No-op actions (`think`) and actions that errored do not change the world, so the step after one
is judged from the state before it (its *effective* state): otherwise every ReAct step after a
thought would start in the state "OK." and every retry in the state "Invalid action!".
"""

from __future__ import annotations

import json
import re
import threading
import weakref
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from expgraph.models import Label
from expgraph.store.base import GraphStore
from expgraph.templates import learn_constants, template

NOOP_ACTIONS = frozenset({"think", "thought", "reflect", "plan"})
CONSTANTS_META = "action_constants"

# Generic error signals, looked for at the start of a result only (a product page that
# mentions "invalid" further down is not an error).
_ERROR = re.compile(
    r"traceback \(most recent call last\)|^\s*(?:error|exception|fatal)\b|\b\w*(?:error|exception)"
    r":|^\s*invalid\b|\binvalid (?:action|input|argument|command|request)|\bnot found\b|"
    r"nothing happens|no such file|permission denied|command not found|unknown command")
ERROR_WINDOW = 200


def error_signal(result: str | None, flagged: bool = False) -> str | None:
    """The symptom text when a result reports an error (or the step was flagged), else None."""
    text = (result or "").strip()
    head = text[:ERROR_WINDOW].lower()
    if flagged or _ERROR.search(head):
        first = text.splitlines()[0] if text else "(error flag, no result)"
        return first[:120]
    return None


@dataclass
class StepView:
    index: int
    name: str
    key: str
    template: str
    args: str  # the arguments as canonical JSON: identity of "the same action"
    raw: str
    state: str | None  # effective pre-state
    next_state: str | None  # effective post-state
    raw_state: str | None
    observation: str  # effective: the observation before any no-op that led here
    result: str | None
    noop: bool
    error: str | None  # symptom when the step errored
    failures: list[str] = field(default_factory=list)  # error | terminal | loop | stagnation


@dataclass
class EpisodeView:
    id: str
    seq: int
    task: str
    success: bool | None
    steps: list[StepView]

    def fingerprint(self) -> tuple:
        return (self.success, tuple((s.key, s.args) for s in self.steps))

    def acting(self) -> list[StepView]:
        """The steps that act on the world: no-ops left out."""
        return [s for s in self.steps if not s.noop]

    def procedure(self) -> list[StepView]:
        """What a successful run *did*: acting steps that did not error."""
        return [s for s in self.steps if not s.noop and s.error is None]


@dataclass
class Corpus:
    episodes: list[EpisodeView]
    constants: dict[str, list[str]]

    @cached_property
    def distinct(self) -> list[EpisodeView]:
        """One episode per trajectory: a replay (the same actions with the same arguments and
        the same outcome, e.g. a re-run of one task) is one piece of evidence, not two.
        Computed once per corpus (every miner asks)."""
        seen: set[tuple] = set()
        out = []
        for e in self.episodes:
            fp = e.fingerprint()
            if fp not in seen:
                seen.add(fp)
                out.append(e)
        return out

    @property
    def succeeded(self) -> list[EpisodeView]:
        return [e for e in self.distinct if e.success]

    @property
    def failed(self) -> list[EpisodeView]:
        return [e for e in self.distinct if e.success is False]


def load_corpus(store: GraphStore) -> Corpus:
    """Every Episode node in ingest order, with templates learned over all of them.

    Where the store can hand over each node's stored text (`iter_props`), an episode parsed by
    an earlier call in this process whose text is unchanged is not parsed again (`_PARSED`):
    an online distillation after each ingest then parses the new episodes only, not every
    episode of the store (most of its cost at 100,000 steps). Same corpus either way."""
    rows = getattr(store, "iter_props", None)
    if rows is None:
        recs = sorted(store.find_nodes(Label.EPISODE),
                      key=lambda r: (r.props.get("seq", 0), r.id))
        parsed = [_parse(r.id, r.props, None) for r in recs]
    else:
        with _PARSED_LOCK:
            cache = _PARSED.get(store) or {}
        fresh: dict[str, _Parsed] = {}
        for id_, text in rows(Label.EPISODE):
            digest = (len(text), hash(text))
            hit = cache.get(id_)
            if hit is None or hit.digest != digest:
                hit = _parse(id_, json.loads(text), digest)
            fresh[id_] = hit
        with _PARSED_LOCK:  # episodes gone from the store leave the cache too
            _PARSED[store] = fresh
        parsed = sorted(fresh.values(), key=lambda p: (p.seq, p.view.id))
    # Constants are learned over distinct trajectories, like every other count.
    first: dict[tuple, _Parsed] = {}
    for p in parsed:
        first.setdefault(p.fingerprint, p)
    uses = [(p.view.id, s.key) for p in parsed if first[p.fingerprint] is p
            for s in p.view.steps]
    constants = {k: sorted(v) for k, v in sorted(learn_constants(uses).items())}
    tmpl: dict[str, str] = {}
    with _PARSED_LOCK:
        last = _CONSTANTS.get(store)
        if last == constants:  # the object the cached views were templated with
            constants = last
        else:
            _CONSTANTS[store] = constants
        episodes = [p.templated(constants, tmpl) for p in parsed]
    return Corpus(episodes=episodes, constants=constants)


@dataclass
class _Parsed:
    """One stored episode parsed: its view with the templates of `constants`."""

    digest: tuple[int, int] | None
    seq: int
    view: EpisodeView
    fingerprint: tuple  # the view's (templates do not enter it)
    constants: dict[str, list[str]] | None = None

    def templated(self, constants: dict[str, list[str]], memo: dict[str, str]) -> EpisodeView:
        """The view with every step's template under `constants` (new step objects when
        they change: a view handed out before is never modified)."""
        if self.constants is not constants:
            steps = []
            for s in self.view.steps:
                t = memo.get(s.key)
                if t is None:
                    t = memo[s.key] = template(s.key, constants)
                steps.append(s if s.template == t else replace(s, template=t))
            self.view = replace(self.view, steps=steps)
            self.constants = constants
        return self.view


def _parse(eid: str, props: dict, digest: tuple[int, int] | None) -> _Parsed:
    view = _episode(eid, props, {})
    return _Parsed(digest=digest, seq=int(props.get("seq", 0)), view=view,
                   fingerprint=view.fingerprint())


# Per store: node id -> the parse of its stored text (see `load_corpus`).
_PARSED: weakref.WeakKeyDictionary[Any, dict[str, _Parsed]] = weakref.WeakKeyDictionary()
_CONSTANTS: weakref.WeakKeyDictionary[Any, dict[str, list[str]]] = weakref.WeakKeyDictionary()
_PARSED_LOCK = threading.Lock()


def _episode(eid: str, props: dict, constants: dict[str, list[str]]) -> EpisodeView:
    steps: list[StepView] = []
    for i, s in enumerate(props.get("steps", [])):
        name = s.get("action", "")
        key = s.get("key") or name
        noop = name.lower() in NOOP_ACTIONS
        raw_state = s.get("state")
        obs = s.get("observation") or ""
        pre = raw_state
        if steps and (steps[-1].noop or steps[-1].error is not None):
            pre, obs = steps[-1].state, steps[-1].observation  # the world before it
        error = None if noop else error_signal(s.get("result"), bool(s.get("error")))
        nxt = pre if (noop or error is not None) else s.get("next_state")
        steps.append(StepView(
            index=i, name=name, key=key, template=template(key, constants),
            args=json.dumps(s.get("arguments") or {}, sort_keys=True, default=str),
            raw=s.get("raw") or key, state=pre, next_state=nxt, raw_state=raw_state,
            observation=obs, result=s.get("result"), noop=noop, error=error))
    ep = EpisodeView(id=eid, seq=int(props.get("seq", 0)), task=props.get("task", ""),
                     success=props.get("success"), steps=steps)
    tag_failures(ep)
    return ep


def tag_failures(ep: EpisodeView) -> None:
    """Mark each acting step with the failure classes it shows (see the module docstring of
    `failures`): error results, the terminal step of a failed run, loops, stagnation."""
    acting = ep.acting()
    seen: set[tuple[str | None, str, str]] = set()
    for s in acting:
        if s.error is not None:
            s.failures.append("error")
        ident = (s.state, s.name, s.args)
        if ident in seen:
            s.failures.append("loop")
        seen.add(ident)
        if (s.error is None and s.state is not None and s.next_state == s.state
                and s.result is not None
                and s.result.strip() == s.observation.strip()):
            s.failures.append("stagnation")
    if ep.success is False and acting:
        acting[-1].failures.append("terminal")
