"""Live recording: EpisodeRecorder and the LangChain callback handler (real langchain-core
runnables and tools, a fake chat model; no LLM)."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from expgraph.models import ActionCall, Episode
from ingestion.langchain_callback import ExperienceCallbackHandler
from ingestion.record import EpisodeRecorder


def test_recorder_accepts_action_objects_dicts_and_strings_and_calls_the_sink() -> None:
    got: list[Episode] = []
    with EpisodeRecorder(got.append, task="buy shoes", agent="shopper",
                         metadata={"run": 3}) as ep:
        ep.step(observation="home", action="search[red shoes]", result="3 results")
        ep.step(observation="3 results", action={"name": "open", "arguments": {"item": "B1"}},
                result="Red shoe page")
        ep.step(observation="Red shoe page", action=ActionCall(name="buy"),
                result="Error: sold out", error=True, thought="buy it")
        ep.succeed(reward=0.5)
    (episode,) = got
    assert episode.task == "buy shoes" and episode.agent == "shopper"
    assert [(s.index, s.action.name) for s in episode.steps] == [(0, "search"), (1, "open"),
                                                                 (2, "buy")]
    assert episode.steps[0].action.arguments == {"query": "red shoes"}
    assert episode.steps[1].action.arguments == {"item": "B1"}
    assert episode.steps[2].error is True and episode.steps[2].thought == "buy it"
    assert (episode.outcome.success, episode.outcome.reward) == (True, 0.5)
    assert episode.metadata == {"run": 3} and episode.source_format == "live"
    assert episode.started_at <= episode.ended_at


def test_recorder_fail_keeps_the_reason() -> None:
    got: list[Episode] = []
    with EpisodeRecorder(got.append, task="t") as ep:
        ep.step(action="look", result="dark")
        ep.fail("no light")
    assert got[0].outcome.success is False
    assert got[0].metadata["failure_reason"] == "no light"


def test_an_exception_in_the_block_fails_the_episode_and_propagates() -> None:
    got: list[Episode] = []
    with pytest.raises(RuntimeError, match="tool crashed"):
        with EpisodeRecorder(got.append, task="t") as ep:
            ep.step(action="click[go]", result="ok")
            ep.succeed()
            raise RuntimeError("tool crashed")
    (episode,) = got
    assert episode.outcome.success is False
    assert episode.metadata["failure_reason"] == "RuntimeError: tool crashed"
    assert len(episode.steps) == 1


def test_leaving_without_an_outcome_records_unknown() -> None:
    got: list[Episode] = []
    with EpisodeRecorder(got.append, task="t") as ep:
        ep.step(action="look")
    assert got[0].outcome.success is None


def test_recorder_rejects_empty_actions_and_tasks() -> None:
    with pytest.raises(ValueError, match="needs a task"):
        EpisodeRecorder(print, task=" ")
    got: list[Episode] = []
    with pytest.raises(ValueError, match="cannot read"):
        with EpisodeRecorder(got.append, task="t") as ep:
            ep.step(action="")
    assert got[0].outcome.success is False  # the error still closes the episode


# ---------------------------------------------------------------------------- langchain


@tool
def search(query: str) -> str:
    """Search the catalogue."""
    return f"3 results for {query}"


@tool
def buy(item: str) -> str:
    """Buy an item."""
    raise ValueError(f"{item} is out of stock")


def _shop(inputs: dict) -> dict:
    found = search.invoke({"query": inputs["input"]})
    try:
        buy.invoke({"item": "B01"})
    except ValueError:
        pass
    return {"output": f"gave up after: {found}"}


def test_callback_records_a_chain_run_with_tool_steps_and_errors() -> None:
    got: list[Episode] = []
    handler = ExperienceCallbackHandler(got.append, agent="shop-agent")
    out = RunnableLambda(_shop).invoke({"input": "red shoes"}, config={"callbacks": [handler]})
    assert out == {"output": "gave up after: 3 results for red shoes"}
    (ep,) = got
    assert ep.task == "red shoes" and ep.agent == "shop-agent"
    assert [(s.action.name, s.action.arguments) for s in ep.steps] == [
        ("search", {"query": "red shoes"}), ("buy", {"item": "B01"})]
    assert ep.steps[0].observation == "user: red shoes"
    assert ep.steps[0].result == "3 results for red shoes" and ep.steps[0].error is False
    assert ep.steps[1].observation == "tool: 3 results for red shoes"
    assert ep.steps[1].result == "ValueError: B01 is out of stock" and ep.steps[1].error is True
    assert ep.outcome.success is True  # finished, no judge given
    assert "gave up after" in ep.metadata["final_output"]
    assert handler.last_episode is ep


def test_callback_judge_decides_success_and_chain_errors_fail() -> None:
    got: list[Episode] = []
    handler = ExperienceCallbackHandler(got.append, task="buy shoes",
                                        judge=lambda out: "bought" in out["output"])
    RunnableLambda(_shop).invoke({"input": "red shoes"}, config={"callbacks": [handler]})
    assert got[-1].outcome.success is False and got[-1].task == "buy shoes"

    def crash(inputs: dict) -> dict:
        search.invoke({"query": "x"})
        raise KeyError("cart")

    with pytest.raises(KeyError):
        RunnableLambda(crash).invoke({"input": "x"}, config={"callbacks": [handler]})
    assert len(got) == 2
    assert got[-1].outcome.success is False
    assert got[-1].metadata["failure_reason"] == "KeyError: 'cart'"
    assert [s.action.name for s in got[-1].steps] == ["search"]


def test_callback_takes_model_text_as_observation_and_tool_call_text_as_thought() -> None:
    model = GenericFakeChatModel(messages=iter([
        AIMessage("Let me search.", tool_calls=[{"name": "search", "args": {"query": "lamp"},
                                                 "id": "c1"}]),
        AIMessage("Found lamps; nothing more to do."),
    ]))

    def agent(inputs: dict) -> str:
        first = model.invoke(inputs["question"])
        for call in first.tool_calls:
            search.invoke(call["args"])
        return model.invoke("summarise").content

    got: list[Episode] = []
    handler = ExperienceCallbackHandler(got.append)
    RunnableLambda(agent).invoke({"question": "find a lamp"}, config={"callbacks": [handler]})
    (ep,) = got
    assert ep.task == "find a lamp"
    assert ep.steps[0].thought == "Let me search."
    assert ep.steps[0].observation == "user: find a lamp"
    assert ep.metadata["final_output"] == "Found lamps; nothing more to do."


def test_a_chain_run_without_tool_calls_is_still_an_episode() -> None:
    got: list[Episode] = []
    handler = ExperienceCallbackHandler(got.append)
    RunnableLambda(lambda q: "42").invoke("meaning of life?", config={"callbacks": [handler]})
    (ep,) = got
    assert (ep.task, ep.steps, ep.metadata["final_output"]) == ("meaning of life?", [], "42")


def test_tool_calls_outside_a_chain_accumulate_until_flush() -> None:
    got: list[Episode] = []
    handler = ExperienceCallbackHandler(got.append, task="look around")
    search.invoke({"query": "a"}, config={"callbacks": [handler]})
    search.invoke({"query": "b"}, config={"callbacks": [handler]})
    assert got == []
    ep = handler.flush(success=True)
    assert got == [ep]
    assert [s.action.arguments["query"] for s in ep.steps] == ["a", "b"]
    assert handler.flush() is None  # nothing left to record
