"""Pinned checks on the real agent logs in ../shared/data (see its NOTICE.md).

Skipped, with the reason shown, when that directory is not there.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from expgraph.models import Episode, Tier
from ingestion.detect import open_source
from ingestion.errors import ParseError
from ingestion.skills_import import read_skill_library

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
pytestmark = [
    pytest.mark.skipif(not DATA.is_dir(), reason=f"real agent data not found at {DATA}"),
    pytest.mark.slow,
]

WEBSHOP = "react_webshop/episodes.txt"
HOTPOT = "reflexion_hotpotqa/react_base_trial1_excerpt.txt"
TAU = "tau_bench_airline/sample.json"
SWE_HISTORY = "swe_agent/pydicom__pydicom-1458.traj"
SWE_FC = "swe_agent/function_calling_simple.traj"
MINI_ISSUE = "mini_swe_agent/github_issue.traj.json"
MINI_LOCAL = "mini_swe_agent/local.traj.json"

EXPECTED_COUNTS = {WEBSHOP: 500, HOTPOT: 8, TAU: 4, SWE_HISTORY: 1, SWE_FC: 1, MINI_ISSUE: 1,
                   MINI_LOCAL: 1}
_cache: dict[str, list[Episode]] = {}


def episodes(rel: str) -> list[Episode]:
    """Every record of a file; fails on any ParseError."""
    if rel not in _cache:
        items = list(open_source(DATA / rel))
        errors = [str(i) for i in items if isinstance(i, ParseError)]
        assert errors == [], f"{rel}: {errors[:3]}"
        _cache[rel] = [i for i in items if isinstance(i, Episode)]
    return _cache[rel]


@pytest.mark.parametrize("rel", sorted(EXPECTED_COUNTS))
def test_every_real_file_reads_without_parse_errors_to_the_expected_count(rel: str) -> None:
    assert len(episodes(rel)) == EXPECTED_COUNTS[rel]


def test_swe_agent_and_mini_swe_agent_give_two_episodes_each() -> None:
    assert len(episodes(SWE_HISTORY) + episodes(SWE_FC)) == 2
    assert len(episodes(MINI_ISSUE) + episodes(MINI_LOCAL)) == 2


def test_webshop_outcomes_come_from_the_score_line_of_each_episode() -> None:
    eps = episodes(WEBSHOP)
    assert [e.metadata["index"] for e in eps] == list(range(500))
    assert sum(e.outcome.reward == 1.0 for e in eps) == 179
    assert sum(bool(e.succeeded) for e in eps) == 179
    assert Counter(e.metadata["termination"] for e in eps) == {"scored": 460, "no_score": 40}
    # the notebook's own running mean over all 500 episodes equals the mean of parsed scores
    mean = sum(e.outcome.reward or 0.0 for e in eps) / 500
    assert mean == pytest.approx(eps[-1].metadata["running_stats"]["mean_reward"])
    assert eps[-1].metadata["running_stats"]["success_rate"] == pytest.approx(179 / 500)


def test_webshop_pinned_episodes() -> None:
    eps = episodes(WEBSHOP)
    scored = eps[1]  # "Your score (min 0.0, max 1.0): 1.0"
    assert scored.task == ("i want a noise cancelling cosycost usb microphone, and price lower "
                           "than 50.00 dollars")
    assert (scored.outcome.success, scored.outcome.reward) == (True, 1.0)
    assert [s.action.name for s in scored.steps] == ["search", "think", "click", "click"]
    no_score = eps[0]  # bought, but the final observation is empty: no score
    assert no_score.task == ("i need a long clip-in hair extension which is natural looking, "
                             "and price lower than 20.00 dollars")
    assert (no_score.outcome.success, no_score.outcome.reward) == (False, None)
    cut_off = eps[3]  # hit the 15-action limit without buying
    assert (cut_off.outcome.success, cut_off.outcome.reward) == (False, None)
    assert len(cut_off.steps) == 14 and "Buy Now" not in [s.action.raw for s in cut_off.steps]
    partial = eps[2]
    assert (partial.outcome.success, partial.outcome.reward) == (False, 0.75)
    assert eps[0].steps[0].observation.startswith("Webshop\nInstruction:")


def test_hotpotqa_incorrect_and_halted_are_failures() -> None:
    eps = episodes(HOTPOT)
    assert [e.metadata["section"] for e in eps] == ["CORRECT"] * 3 + ["INCORRECT"] * 3 + [
        "HALTED"] * 2
    assert [e.outcome.success for e in eps] == [True] * 3 + [False] * 5
    assert eps[0].task == "Which of Jonny Craig and Pete Doherty has been a member of more bands ?"
    assert eps[0].steps[0].thought.startswith("I need to search Jonny Craig")
    assert [len(e.steps) for e in eps] == [3, 3, 4, 3, 4, 3, 6, 6]


def test_tau_episodes_follow_reward() -> None:
    eps = episodes(TAU)
    assert [(e.outcome.reward, e.outcome.success) for e in eps] == [
        (1.0, True), (1.0, True), (0.0, False), (0.0, False)]
    assert eps[0].task == "Hi! I need to change my return flight from Texas to Newark."
    assert [s.action.name for s in eps[0].steps] == [
        "get_user_details", "get_reservation_details", "get_reservation_details",
        "get_reservation_details", "cancel_reservation"]
    assert all("Airline Agent Policy" not in s.observation for e in eps for s in e.steps)


def test_swe_agent_both_layouts() -> None:
    (hist,) = episodes(SWE_HISTORY)
    assert hist.task.startswith("Pixel Representation attribute should be optional")
    assert [s.action.name for s in hist.steps][:3] == ["create", "edit", "python"]
    assert hist.steps[-1].action.name == "submit" and len(hist.steps) == 12
    assert [i for i, s in enumerate(hist.steps) if s.error] == [5, 6, 7]  # rejected edits
    assert hist.outcome.success is None  # submitted, tests not run: unknown
    assert hist.metadata["exit_status"] == "submitted"
    (fc,) = episodes(SWE_FC)
    assert [s.action.name for s in fc.steps] == ["find_file", "open", "edit", "python", "submit"]
    assert fc.outcome.success is None


def test_mini_swe_agent_trajectories() -> None:
    (issue,) = episodes(MINI_ISSUE)
    assert issue.task.startswith("GitHub Issue: SyntaxError: invalid syntax")
    assert len(issue.steps) == 10 and issue.steps[-1].action.name == "submit"
    assert [i for i, s in enumerate(issue.steps) if s.error] == [0, 7]  # returncode 1
    (local,) = episodes(MINI_LOCAL)
    assert local.task == "Blah blah blah"
    assert [s.action.name for s in local.steps] == ["echo", "submit"]


def test_voyager_skill_library_imports_as_functional_skills_with_their_calls() -> None:
    skills = read_skill_library(DATA / "voyager_skills" / "skills.json")
    by_name = {s.name: s for s in skills}
    assert len(skills) == 51 and len({s.id for s in skills}) == 51
    assert {s.tier for s in skills} == {Tier.FUNCTIONAL}
    assert {s.source for s in skills} == {"imported"}
    assert by_name["mineWoodLog"].actions == ["exploreUntil", "mineBlock"]
    assert by_name["craftWoodenPickaxe"].actions == [
        "craftCraftingTable", "mineBlock", "craftItem", "placeItem"]
    # a helper the code defines itself is not an action
    assert "findSuitablePosition" not in by_name["smeltFiveRawIron"].actions
    assert by_name["mineWoodLog"].description.startswith("The function is about mining a single")
    assert by_name["mineWoodLog"].code.startswith("async function mineWoodLog(bot)")
