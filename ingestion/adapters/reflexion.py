"""Reflexion / HotpotQA logs: `Question:` then numbered `Thought n:` / `Action n:` /
`Observation n:` lines, grouped under `BEGIN CORRECT|INCORRECT|HALTED AGENTS` sections, each
episode closed by `Correct answer: ...`.

Outcome: the section decides (CORRECT = success; INCORRECT and HALTED = failure); outside any
section, an `Answer is CORRECT` observation is a success and anything else a failure.
A `Reflections:` block (`- ...` lines) before the question goes to metadata["reflections"];
the section name to metadata["section"]. The first step's observation is the question
(`Question: ...`), later ones the previous observation. Results that are failed look-ups
(`Could not find ...`) or invalid actions are errors; a wrong final answer is not (the outcome
carries it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from expgraph.models import Episode, Outcome, Step
from ingestion._io import Located, build, lines_problem, open_text
from ingestion._text import react_action
from ingestion.errors import ParseError, RecordError

_SECTION = re.compile(r"BEGIN (CORRECT|INCORRECT|HALTED) AGENTS")
_TRIAL = re.compile(r"BEGIN TRIAL (\d+)")
_FIELD = re.compile(r"^(Thought|Action|Observation) (\d+):\s?(.*)$")
_ERRORS = ("could not find", "invalid action")


class _Draft:
    def __init__(self, question: str, line: int, section: str | None, trial: int | None,
                 reflections: list[str]) -> None:
        self.question = question
        self.line = line
        self.section = section
        self.trial = trial
        self.reflections = reflections
        self.fields: list[list[Any]] = []  # [kind, n, text, line]
        self.correct_answer: str | None = None
        self.previous_attempt: str | None = None

    def transcript(self) -> str:
        body = "\n".join(f"{k} {i}: {text}" for k, i, text, _ in self.fields)
        return f"Question: {self.question}\n{body}".strip()

    def add(self, line: str, n: int) -> None:
        m = _FIELD.match(line)
        if m:
            self.fields.append([m[1], int(m[2]), m[3], n])
        elif self.fields:
            self.fields[-1][2] += "\n" + line
        elif line.strip():
            self.question += "\n" + line


def episode_from_draft(d: _Draft) -> Episode:
    task = d.question.strip()
    if not task:
        raise RecordError(f"empty question at line {d.line}", "Question")
    steps: list[Step] = []
    thought: str | None = None
    for kind, _n, text, line in d.fields:
        text = text.strip()
        if kind == "Thought":
            thought = text or None
        elif kind == "Action":
            action = react_action(text, f" at line {line}")
            previous = (steps[-1].result or "") if steps else f"Question: {task}"
            steps.append(Step(observation=previous, action=action, thought=thought))
            thought = None
        elif steps and steps[-1].result is None:
            steps[-1].result = text
            steps[-1].error = text.lower().startswith(_ERRORS)
    final = (steps[-1].result or "") if steps else ""
    if d.section is not None:
        success = d.section == "CORRECT"
    else:
        success = final.startswith("Answer is CORRECT")
    meta: dict[str, Any] = {"section": d.section or ("CORRECT" if success else "INCORRECT")}
    if d.trial is not None:
        meta["trial"] = d.trial
    if d.correct_answer is not None:
        meta["correct_answer"] = d.correct_answer
    if d.reflections:
        meta["reflections"] = d.reflections
    if d.previous_attempt:
        meta["previous_attempt"] = d.previous_attempt
    if thought:  # a last thought with no action (halted mid-step)
        meta["last_thought"] = thought
    return Episode(agent="reflexion-react", task=task, steps=steps, source_format="reflexion",
                   outcome=Outcome(success=success), metadata=meta)


def _drafts(path: Path) -> Iterator[_Draft]:
    section: str | None = None
    trial: int | None = None
    reflections: list[str] = []
    in_reflections = False
    draft: _Draft | None = None
    previous: str | None = None
    with open_text(path) as fh:
        for n, raw in enumerate(fh, 1):
            line = raw.rstrip("\n")
            header = _SECTION.search(line) or _TRIAL.search(line)
            if header:
                if draft:
                    yield draft
                draft = None
                if header.re is _SECTION:
                    section = header[1]
                else:
                    trial, section = int(header[1]), None
                continue
            if line.strip() == "(END PREVIOUS TRIAL)" and draft:
                previous, draft = draft.transcript(), None  # last-attempt context, not an episode
                continue
            if line.startswith("Question:"):
                if draft:
                    yield draft
                draft = _Draft(line[len("Question:"):].strip(), n, section, trial, reflections)
                draft.previous_attempt, previous = previous, None
                reflections, in_reflections = [], False
            elif line.startswith("Correct answer:") and draft:
                draft.correct_answer = line[len("Correct answer:"):].strip()
                yield draft
                draft = None
            elif draft:
                draft.add(line, n)
            elif line.strip() == "Reflections:":
                in_reflections = True
            elif in_reflections and line.startswith("- "):
                reflections.append(line[2:].strip())
            elif in_reflections and line.strip() and reflections:
                reflections[-1] += " " + line.strip()
    if draft:
        yield draft


class ReflexionAdapter:
    name = "reflexion"

    def sniff(self, path: Path, head: str) -> bool:
        return (re.search(r"^Question:", head, re.M) is not None
                and re.search(r"^Action \d+:", head, re.M) is not None)

    def read(self, path: Path) -> Iterator[Episode | ParseError]:
        file = str(path)
        for i, draft in enumerate(_drafts(path)):
            pos = f"episode {i}"
            bad = lines_problem(file, pos, [(draft.line, draft.question),
                                            *((f[3], f[2]) for f in draft.fields)])
            if bad:
                yield bad
                continue
            yield build(file, Located(None, pos, pos), episode_from_draft, draft)
