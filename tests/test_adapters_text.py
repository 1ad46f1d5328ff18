"""ReAct text logs (WebShop notebook layout) and Reflexion/HotpotQA logs."""

from __future__ import annotations

from pathlib import Path

from expgraph.models import Episode
from ingestion.adapters.react_text import ReactTextAdapter
from ingestion.adapters.reflexion import ReflexionAdapter

FIXTURES = Path(__file__).parent / "fixtures" / "adapters"


def test_webshop_reset_is_the_first_observation_and_task_is_the_instruction() -> None:
    scored, cut_off, partial = list(ReactTextAdapter().read(FIXTURES / "webshop_small.txt"))
    assert scored.task == "i want red running shoes, and price lower than 50.00 dollars"
    assert [s.action.name for s in scored.steps] == ["search", "think", "click", "click"]
    assert scored.steps[0].action.arguments == {"query": "red running shoes"}
    assert scored.steps[0].observation.startswith("Webshop\nInstruction:")
    # observation = the previous Observation, result = the one after the action
    assert scored.steps[1].observation == scored.steps[0].result
    assert scored.steps[1].result == "OK."
    assert scored.steps[3].result == "Your score (min 0.0, max 1.0): 1.0"
    assert scored.steps[3].reward == 1.0
    assert scored.provenance.position == "episode 0"
    assert scored.metadata["index"] == 0


def test_webshop_score_decides_outcome_and_running_stats_are_not_the_score() -> None:
    scored, cut_off, partial = list(ReactTextAdapter().read(FIXTURES / "webshop_small.txt"))
    assert (scored.outcome.success, scored.outcome.reward) == (True, 1.0)
    assert (cut_off.outcome.success, cut_off.outcome.reward) == (False, None)
    assert cut_off.metadata["termination"] == "no_score"
    assert (partial.outcome.success, partial.outcome.reward) == (False, 0.5)
    # the notebook's cumulative line is metadata only
    assert partial.metadata["running_stats"] == {
        "episodes": 3, "mean_reward": 0.5, "success_rate": 0.3333333333333333, "error_rate": 0.0}
    assert not any("0.3333" in (s.result or "") for s in partial.steps)


def test_webshop_invalid_and_no_op_results_are_errors_and_cut_actions_keep_their_verb() -> None:
    _, cut_off, _ = list(ReactTextAdapter().read(FIXTURES / "webshop_small.txt"))
    assert [(s.action.name, s.error) for s in cut_off.steps] == [
        ("search", False), ("click", True), ("click", True), ("think", False)]
    assert cut_off.steps[3].action.arguments["thought"].startswith("I keep failing")


def test_react_log_bad_episodes_are_reported_and_neighbours_survive(tmp_path: Path) -> None:
    text = (FIXTURES / "webshop_small.txt").read_text()
    blocks = text.split("-----------------\n")
    # episode 1: an empty action; episode 2: no instruction to take the task from
    blocks[2] = blocks[2].replace("Action: click[Nope]", "Action: ")
    blocks[3] = blocks[3].replace("Instruction:", "Note:")
    path = tmp_path / "log.txt"
    path.write_text("-----------------\n".join(blocks))
    items = list(ReactTextAdapter().read(path))
    assert isinstance(items[0], Episode)
    assert [str(i) for i in items[1:]] == [
        f"{path}:episode 1: empty action at line 53",
        f"{path}:episode 2: no task: no `Instruction:` in the first observation (line 63)",
    ]


def test_react_log_without_separators_splits_on_reset(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text(
        "Action: reset\nObservation: Instruction: find a lamp [Search]\n\n"
        "Action: search[lamp]\nObservation: [B1] Lamp\n\n"
        "Action: reset\nObservation: Instruction: find a desk [Search]\n\n"
        "Action: search[desk]\nObservation: Your score (min 0.0, max 1.0): 1.0\n")
    a, b = list(ReactTextAdapter().read(path))
    assert (a.task, b.task) == ("find a lamp", "find a desk")
    assert (a.succeeded, b.succeeded) == (False, True)


def test_reflexion_sections_decide_outcome_and_reflections_are_kept() -> None:
    correct, incorrect, halted = list(ReflexionAdapter().read(FIXTURES / "reflexion_small.txt"))
    assert correct.task == "What is the capital of the country where the Eiffel Tower stands?"
    assert [e.outcome.success for e in (correct, incorrect, halted)] == [True, False, False]
    assert [e.metadata["section"] for e in (correct, incorrect, halted)] == [
        "CORRECT", "INCORRECT", "HALTED"]
    assert incorrect.metadata["reflections"] == [
        "I searched the wrong entity; I should search the river first.",
        "I answered too fast without checking the length."]
    assert "reflections" not in correct.metadata
    assert correct.metadata["trial"] == 2 and correct.metadata["correct_answer"] == "Paris"
    assert halted.metadata["last_thought"] == "I need to search the novel."


def test_reflexion_steps_have_thoughts_multiline_observations_and_lookup_errors() -> None:
    correct, incorrect, halted = list(ReflexionAdapter().read(FIXTURES / "reflexion_small.txt"))
    first, finish = correct.steps
    assert first.thought == "I need to search Eiffel Tower."
    assert (first.action.name, first.action.arguments) == ("search", {"query": "Eiffel Tower"})
    assert first.observation == f"Question: {correct.task}"
    assert first.result.endswith("Paris, France.\nIt is named after Gustave Eiffel.")
    assert finish.observation == first.result
    assert (finish.action.name, finish.result) == ("finish", "Answer is CORRECT")
    assert [s.error for s in incorrect.steps] == [True, False]  # "Could not find"
    assert [s.action.name for s in halted.steps] == ["search", "lookup"]


def test_reflexion_bad_episode_is_reported_and_others_survive(tmp_path: Path) -> None:
    text = (FIXTURES / "reflexion_small.txt").read_text()
    path = tmp_path / "log.txt"
    question = "Question: Who wrote the novel that the film Blade Runner is based on?"
    path.write_text(text.replace("Action 1: Search[Nile River]", "Action 1: ")
                    .replace(question, "Question: "))
    items = list(ReflexionAdapter().read(path))
    assert [type(i).__name__ for i in items] == ["Episode", "ParseError", "ParseError"]
    assert str(items[1]) == f"{path}:episode 1: empty action at line 27"
    assert str(items[2]) == f"{path}:episode 2: empty question at line 36 (field Question)"
