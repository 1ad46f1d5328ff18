"""SWE-agent `.traj` (history and trajectory layouts) and mini-swe-agent trajectories."""

from __future__ import annotations

import json
from pathlib import Path

from expgraph.models import Episode
from ingestion.adapters.mini_swe_agent import MiniSweAgentAdapter, episode_from_mini
from ingestion.adapters.swe_agent import SweAgentAdapter, episode_from_swe, swe_outcome
from ingestion.errors import ParseError

ISSUE = ("We're currently solving the following issue within our repository. Here's the issue "
         "text:\nISSUE:\nDivision crashes on zero\nSteps: call div(1, 0)\n\nINSTRUCTIONS:\n"
         "Solve it.\n(Open file: n/a)\nbash-$")

HISTORY_TRAJ = {
    "environment": "swe_main",
    "history": [
        {"role": "system", "content": "SETTING: you are a programmer"},
        {"role": "user", "content": "DEMONSTRATION: open foo.py ...", "is_demo": True},
        {"role": "user", "content": ISSUE},
        {"role": "assistant", "content": "Let me open it.\n```\nopen src/div.py\n```",
         "thought": "Let me open it.", "action": "open src/div.py\n"},
        {"role": "user", "content": "[File: src/div.py (3 lines total)]\n1:def div(a, b):"},
        {"role": "assistant", "content": "...", "thought": "Fix the line.",
         "action": "edit 2:2\n    return a / b if b else 0\nend_of_edit\n"},
        {"role": "user", "content": "Your proposed edit has introduced new syntax error(s)."},
        {"role": "assistant", "content": "...", "thought": "Submit.", "action": "submit\n"},
        {"role": "user", "content": "diff --git a/src/div.py b/src/div.py"},
    ],
    "info": {"exit_status": "submitted", "submission": "diff --git a/src/div.py b/src/div.py"},
}


def test_swe_history_layout_steps_use_shell_actions_and_issue_text_as_task() -> None:
    ep = episode_from_swe(HISTORY_TRAJ)
    assert ep.task == "Division crashes on zero\nSteps: call div(1, 0)"
    assert [s.action.name for s in ep.steps] == ["open", "edit", "submit"]
    assert ep.steps[0].action.arguments["args"] == ["src/div.py"]
    assert ep.steps[0].thought == "Let me open it."
    assert ep.steps[0].observation == f"user: {ISSUE}"  # demo and system messages left out
    assert ep.steps[1].observation == "tool: [File: src/div.py (3 lines total)]\n1:def div(a, b):"
    assert [s.error for s in ep.steps] == [False, True, False]
    assert ep.agent == "swe-agent" and ep.metadata["exit_status"] == "submitted"


def test_swe_trajectory_only_layout_is_read_too() -> None:
    doc = {"trajectory": [
        {"action": "find_file div.py", "observation": "Found 1 matches", "thought": "find"},
        {"action": "python repro.py", "observation": "Traceback (most recent call last):"}],
        "history": [{"role": "user", "content": ISSUE}]}
    ep = episode_from_swe(doc)
    assert [s.action.name for s in ep.steps] == ["find_file", "python"]
    assert ep.steps[1].observation == "tool: Found 1 matches"
    assert ep.steps[1].error is False  # a reproduced traceback is information, not a bad action


def test_swe_outcome_rule_submission_is_unknown_nothing_submitted_is_failure() -> None:
    assert swe_outcome({"exit_status": "submitted", "submission": "diff"})[0].success is None
    assert swe_outcome({"exit_status": "exit_cost", "submission": None})[0].success is False
    assert swe_outcome({"exit_status": "submitted", "submission": "  "})[0].success is False
    assert swe_outcome({"exit_status": "submitted", "submission": "d", "resolved": True}
                       )[0].success is True
    assert swe_outcome(None)[0].success is None


def test_swe_malformed_files_are_parse_errors_naming_file_and_position(tmp_path: Path) -> None:
    truncated = tmp_path / "a.traj"
    truncated.write_text(json.dumps(HISTORY_TRAJ, indent=2)[:400])
    (err,) = list(SweAgentAdapter().read(truncated))
    assert isinstance(err, ParseError) and err.file == str(truncated) and err.position.isdigit()
    no_actions = tmp_path / "b.traj"
    no_actions.write_text(json.dumps({"history": HISTORY_TRAJ["history"][:3], "trajectory": []}))
    (err,) = list(SweAgentAdapter().read(no_actions))
    assert str(err) == f"{no_actions}:episode 0: no actions in `history` or `trajectory` " \
                       "(field trajectory)"
    bad_entry = tmp_path / "c.traj"
    bad_entry.write_text(json.dumps({"trajectory": [{"observation": "x"}]}))
    (err,) = list(SweAgentAdapter().read(bad_entry))
    assert "(field trajectory.0.action)" in str(err)


MINI = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Please solve this issue: Fix the typo in README\n\n"
                                "You can execute bash commands and edit files."},
    {"role": "assistant", "content": "THOUGHT: look first.\n\n```mswea_bash_command\nls -la\n```"},
    {"role": "user", "content": "<returncode>0</returncode>\n<output>\nREADME\n</output>"},
    {"role": "assistant", "content": "No command here, just talking."},
    {"role": "user", "content": "Please always provide EXACTLY ONE action in triple backticks."},
    {"role": "assistant", "content": "```bash\ncat missing.txt\n```"},
    {"role": "user", "content": "<returncode>1</returncode>\n<output>\nNo such file\n</output>"},
    {"role": "assistant",
     "content": "Done.\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```"},
    {"role": "user", "content": ""},
]


def test_mini_code_blocks_are_shell_steps_and_returncode_sets_error() -> None:
    ep = episode_from_mini(MINI)
    assert ep.task == "Fix the typo in README"
    assert [s.action.name for s in ep.steps] == ["ls", "cat", "submit"]
    assert ep.steps[0].thought == "look first."
    assert [s.error for s in ep.steps] == [False, True, False]
    # the rejected turn and its format-error reply are part of what the agent saw next
    assert ep.steps[1].observation == (
        "tool: <returncode>0</returncode>\n<output>\nREADME\n</output>\n\n"
        "assistant: No command here, just talking.\n\n"
        "user: Please always provide EXACTLY ONE action in triple backticks.")
    assert ep.outcome.success is None and ep.agent == "mini-swe-agent"


def test_mini_object_layout_uses_info_for_outcome(tmp_path: Path) -> None:
    path = tmp_path / "run.traj.json"
    path.write_text(json.dumps({"trajectory_format": "mini-swe-agent-1", "messages": MINI,
                                "info": {"exit_status": "LimitsExceeded", "submission": ""}}))
    (ep,) = list(MiniSweAgentAdapter().read(path))
    assert isinstance(ep, Episode)
    assert ep.outcome.success is False and ep.metadata["exit_status"] == "LimitsExceeded"
    assert ep.provenance.position == "episode 0" and ep.source_format == "mini_swe_agent"


def test_mini_without_user_message_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.traj.json"
    path.write_text(json.dumps([MINI[0], MINI[2]]))
    (err,) = list(MiniSweAgentAdapter().read(path))
    assert isinstance(err, ParseError) and err.position == "episode 0"
    assert "no task" in err.reason
