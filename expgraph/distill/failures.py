"""Failures and the guardrails that contrast them with what worked in the same state.

Failure classes (tagged per step in `corpus.tag_failures`):
- error: the result reports an error (the step's error flag, or a generic signal at the start
  of the result: tracebacks, "Error:", "invalid ...", "not found", "Nothing happens");
- terminal: the last acting step of a failed (or cut-off) episode;
- loop: the same action with the same arguments again in the same abstract state, one episode;
- stagnation: the abstract state AND the observation text unchanged after an action. Equal
  abstract states alone are not enough: paging through results or choosing a second option
  lands in the same abstract state while the page did change.

A guardrail needs failures of the action in that state in at least MIN_FAILURES distinct
episodes, a failure rate of at least MIN_FAILURE_RATE, and (when another action was taken
there) an alternative that succeeded more often. One failed run is noise (and a run that loops
repeats one mistake 18 times, so steps are not independent evidence); two runs failing the same
way in one abstract state is the smallest evidence that repeats. On WebShop this keeps the rules
seen in >= 2 of 500 runs and drops three single-run ones (e.g. `exit[...]`, tried by one run).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from expgraph.distill.corpus import Corpus, EpisodeView, StepView
from expgraph.distill.skills import atomic_id, episode_sample, short, top
from expgraph.models import ActionNode, EdgeRecord, FailureNode, GuardrailNode, Rel
from expgraph.scoring import guardrail_severity, utility, wilson_lower_bound
from expgraph.templates import split_key

MIN_FAILURES = 2  # distinct episodes
MIN_FAILURE_RATE = 0.5
CLASS_ORDER = ("error", "terminal", "loop", "stagnation")


def _symptom(cls: str, steps: list[StepView]) -> str:
    if cls == "error":
        return top(Counter(s.error or "" for s in steps), 1)[0]
    if cls == "terminal":
        res = top(Counter(short(s.result or "(no result)", 60) for s in steps), 1)[0]
        return f"the failed episode ended after it (last result: {res})"
    if cls == "loop":
        return "the same action repeated in the same state within one episode"
    return "the observation did not change"


def failures(corpus: Corpus) -> tuple[list[FailureNode], list[EdgeRecord]]:
    groups: dict[tuple[str, str, str], list[tuple[EpisodeView, StepView]]] = defaultdict(list)
    for ep in corpus.distinct:
        for s in ep.acting():
            for cls in s.failures:
                groups[(cls, s.state or "", s.template)].append((ep, s))
    nodes: list[FailureNode] = []
    edges: list[EdgeRecord] = []
    for (cls, sid, tmpl), items in sorted(groups.items()):
        node = FailureNode(error_class=cls, symptom=_symptom(cls, [s for _, s in items]),
                           action=tmpl, state_id=sid, count=len(items),
                           episodes=episode_sample([ep for ep, _ in items]))
        nodes.append(node)
        if sid:
            edges.append(EdgeRecord(src=node.id, dst=sid, type=Rel.OBSERVED_IN))
        edges.append(EdgeRecord(src=node.id, dst=ActionNode(name=split_key(tmpl)[0]).id,
                                type=Rel.CAUSED_BY))
        edges += [EdgeRecord(src=node.id, dst=e, type=Rel.OCCURRED_IN) for e in node.episodes]
    return nodes, edges


def pitfalls(nodes: list[FailureNode], state_text: dict[str, str]) -> dict[str, list[str]]:
    """Per action template, its most frequent failures as readable lines."""
    out: dict[str, list[str]] = defaultdict(list)
    for f in sorted(nodes, key=lambda f: (-f.count, f.id)):
        where = short(state_text.get(f.state_id, f.state_id), 50)
        out[f.action].append(f"{f.error_class}: {short(f.symptom, 80)} ({f.count}x, in '{where}')")
    return out


def _root_cause(tmpl: str, classes: Counter[str], symptoms: dict[str, str], n: int) -> str:
    parts = []
    for cls in CLASS_ORDER:
        c = classes.get(cls, 0)
        if not c:
            continue
        if cls == "error":
            parts.append(f"{tmpl} in this state returned '{short(symptoms['error'], 60)}' "
                         f"{c} of {n} times")
        elif cls == "terminal":
            parts.append(f"{tmpl} here was the last action of {c} failed episodes "
                         f"({n} uses)")
        elif cls == "loop":
            parts.append(f"{tmpl} was repeated in this state within one episode {c} times")
        else:
            parts.append(f"{tmpl} left the page unchanged {c} of {n} times")
    return "; ".join(parts)


def guardrails(corpus: Corpus, failure_nodes: list[FailureNode],
               state_text: dict[str, str]) -> tuple[list[GuardrailNode], list[EdgeRecord]]:
    at: dict[str, dict[str, list[tuple[EpisodeView, StepView]]]] = defaultdict(
        lambda: defaultdict(list))
    starts: set[str] = set()
    for ep in corpus.distinct:
        acting = ep.acting()
        if acting and acting[0].state:
            starts.add(acting[0].state)
        for s in acting:
            if s.state:
                at[s.state][s.template].append((ep, s))
    fail_ids = defaultdict(list)
    for f in failure_nodes:
        fail_ids[(f.state_id, f.action)].append(f.id)
    nodes: list[GuardrailNode] = []
    edges: list[EdgeRecord] = []
    for sid in sorted(at):
        by_tmpl = at[sid]
        wins = {t: sum(1 for ep, s in v if ep.success and not s.failures)
                for t, v in by_tmpl.items()}
        for tmpl in sorted(by_tmpl):
            items = by_tmpl[tmpl]
            bad = [(ep, s) for ep, s in items if s.failures]
            n, k = len(items), len(bad)
            if len({ep.id for ep, _ in bad}) < MIN_FAILURES or k / n < MIN_FAILURE_RATE:
                continue
            others = [(t, wins[t], len(by_tmpl[t])) for t in by_tmpl if t != tmpl and wins[t]]
            alt = max(others, key=lambda o: (wilson_lower_bound(o[1], o[2]), o[1], o[0]),
                      default=None)
            if alt is not None and alt[1] / alt[2] <= wins[tmpl] / n:
                continue  # what else was done here did no better: nothing to contrast
            classes = Counter(c for _, s in bad for c in s.failures)
            symptoms = {"error": top(Counter(s.error or "" for _, s in bad if s.error), 1)[0]
                        if classes.get("error") else ""}
            trigger = short(state_text.get(sid, sid), 90)
            rule = f"In states like '{trigger}', do not {tmpl} (failed {k} of {n})"
            rule += f"; {alt[0]} succeeded {alt[1]} of {alt[2]}." if alt else "."
            terminal_share = classes.get("terminal", 0) / k
            g = GuardrailNode(
                trigger_state=sid, trigger=f"state like '{trigger}'", forbidden=[tmpl],
                alternative=alt[0] if alt else None,
                alternative_successes=alt[1] if alt else 0,
                alternative_total=alt[2] if alt else 0,
                root_cause=_root_cause(tmpl, classes, symptoms, n),
                scope="task" if (sid in starts or terminal_share > 0.5) else "subgoal",
                severity=round(guardrail_severity(len({ep.id for ep, _ in bad}), k, n), 4),
                support=len({ep.id for ep, _ in bad}), failures=k, total=n,
                utility=utility(k, n - k), rule=rule,
                episodes=episode_sample([ep for ep, _ in bad]), source="distilled")
            nodes.append(g)
            edges += [EdgeRecord(src=g.id, dst=f, type=Rel.PREVENTS)
                      for f in sorted(fail_ids[(sid, tmpl)])]
            edges.append(EdgeRecord(src=g.id, dst=sid, type=Rel.GUARDS))
            edges.append(EdgeRecord(src=g.id, dst=atomic_id(tmpl), type=Rel.GUARDS))
    return nodes, edges
