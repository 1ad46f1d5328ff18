"""Skill library import (Voyager layout) on a small inline library."""

from __future__ import annotations

import json
from pathlib import Path

from expgraph.models import Tier
from ingestion.skills_import import read_skill_library, skill_calls

LIBRARY = {
    "craftTable": {
        "code": "async function craftTable(bot, count = 1) {\n"
                "  await mineBlock(bot, 'oak_log', 1);\n"
                "  await craftItem(bot, 'crafting_table', count);\n"
                "  await mineBlock(bot, 'oak_log', 1);\n"
                "  bot.chat('done');\n}",
        "description": "async function craftTable(bot) {\n"
                       "    // Mines a log and crafts a table.\n}",
    },
    "placeTable": {
        "code": "async function helper(bot) { return bot.entity.position; }\n"
                "async function placeTable(bot) {\n"
                "  craftTable(bot);\n"
                "  const p = await helper(bot);\n"
                "  await bot.pathfinder.goto(p);\n"
                "  await placeItem(bot, 'crafting_table', p);\n}",
        "description": "Places a crafting table.",
    },
}


def test_calls_are_ordered_unique_and_skip_local_helpers() -> None:
    code = LIBRARY["placeTable"]["code"]
    assert skill_calls(code, "placeTable", {"craftTable", "placeTable"}) == [
        "craftTable", "bot.pathfinder.goto", "placeItem"]
    assert skill_calls(LIBRARY["craftTable"]["code"], "craftTable") == ["mineBlock", "craftItem"]


def test_reads_a_library_file_or_its_directory(tmp_path: Path) -> None:
    (tmp_path / "skills.json").write_text(json.dumps(LIBRARY))
    for source in (tmp_path / "skills.json", tmp_path):
        craft, place = read_skill_library(source)
        assert (craft.name, craft.tier, craft.source) == ("craftTable", Tier.FUNCTIONAL, "imported")
        assert craft.description == "Mines a log and crafts a table."
        assert craft.parameters == ["count"]
        assert place.description == "Places a crafting table."
        assert place.actions == ["craftTable", "bot.pathfinder.goto", "placeItem"]


def test_skill_ids_are_stable_across_imports_and_distinct_per_name(tmp_path: Path) -> None:
    same_calls = {"a": {"code": "async function a(bot) { await mineBlock(bot); }"},
                  "b": {"code": "async function b(bot) { await mineBlock(bot); }"}}
    (tmp_path / "skills.json").write_text(json.dumps(same_calls))
    first = read_skill_library(tmp_path)
    again = read_skill_library(tmp_path)
    assert first[0].actions == first[1].actions
    assert first[0].id != first[1].id
    assert [s.id for s in first] == [s.id for s in again]
