"""Action keys and action templates.

An action *key* is fixed at ingest and never depends on other episodes: the action name, plus
for a one-argument text action its argument, lower-cased with ids masked (`click[buy now]`,
`click[<id>]`, `search[long clip-in hair extension]`). A *template* is what results show: the
key's argument kept where the data says it is a recurring constant, a slot otherwise
(`click[buy now]`, `search[<query>]`). Tool calls and shell commands are their name alone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping

from expgraph.actions import TEXT_VERB_SLOTS
from expgraph.models import ActionCall

_TEXT_SLOTS = set(TEXT_VERB_SLOTS.values()) | {"arg"}
_ID = re.compile(r"\b(?=\w*\d)(?=\w*[a-z])\w{6,}\b")
_SPACE = re.compile(r"\s+")
_KEY = re.compile(r"^([^\[]+)\[(.*)\]$", re.S)
_MASKED = re.compile(r"<[a-z_]+>")  # a value the key masked (`<id>`): always a slot
MAX_ARG = 80

# An argument value is a constant when at least this many distinct episodes used it, and at
# least this share of the episodes that used the action (WebShop: `buy now`, `< prev`,
# `next >` pass; search queries and product ids, unique per episode, do not).
MIN_EPISODES = 3
MIN_SHARE = 0.02


def action_key(action: ActionCall) -> str:
    args = action.arguments
    if len(args) == 1:
        (slot, value), = args.items()
        if slot in _TEXT_SLOTS and isinstance(value, str):
            v = _ID.sub("<id>", _SPACE.sub(" ", value.lower()).strip())[:MAX_ARG]
            return f"{action.name}[{v}]"
    return action.name


def split_key(key: str) -> tuple[str, str | None]:
    m = _KEY.match(key)
    return (m.group(1), m.group(2)) if m else (key, None)


def key_name(key: str) -> str:
    return split_key(key)[0]


def learn_constants(uses: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """From (episode id, action key) pairs: per action name, the argument values that are
    constants (seen in enough distinct episodes)."""
    eps_by_value: dict[tuple[str, str], set[str]] = defaultdict(set)
    eps_by_name: dict[str, set[str]] = defaultdict(set)
    for ep, key in uses:
        name, arg = split_key(key)
        eps_by_name[name].add(ep)
        if arg is not None and not _MASKED.search(arg):
            eps_by_value[(name, arg)].add(ep)
    constants: dict[str, set[str]] = defaultdict(set)
    for (name, arg), eps in eps_by_value.items():
        need = max(MIN_EPISODES, MIN_SHARE * len(eps_by_name[name]))
        if len(eps) >= need:
            constants[name].add(arg)
    return dict(constants)


def template(key: str, constants: Mapping[str, Iterable[str]]) -> str:
    name, arg = split_key(key)
    if arg is None:
        return name
    if arg in constants.get(name, ()):
        return key
    return f"{name}[<{TEXT_VERB_SLOTS.get(name, 'arg')}>]"


def template_name(tmpl: str) -> str:
    """The action name a template begins with (callers may match on it alone)."""
    return split_key(tmpl)[0]
