"""Views and renderers of expgraph.viz over a small hand-built graph in a real SQLite file.

The graph is built from the node models themselves (SkillNode(...).to_record() etc.), so the
views are tested independently of distillation: every count asserted below is known by hand.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from expgraph.graph import ExperienceGraph
from expgraph.models import (
    ActionNode,
    EdgeRecord,
    EpisodeNode,
    FailureNode,
    GuardrailNode,
    Rel,
    SkillNode,
    StateNode,
    Status,
    TaskNode,
    Tier,
)
from expgraph.store.sqlite import SQLiteStore
from expgraph.viz import scene
from expgraph.viz.scene import add_node, cap
from expgraph.viz.style import rate_colour

ROOT = Path(__file__).resolve().parents[1]

STATE_TEXT = {
    "search": "WebShop Instruction: <text> [Search]",
    "results": "[Back to Search] Page <num> (Total results: <num>) [Next >] [<id>] <text> <num>",
    "item": "[Back to Search] [< Prev] color [<opt>] size [<opt>] <text> Price: <num> [Buy Now]",
    "done": "Thank you for shopping with us! Your score (min 0.0, max 1.0) <num>",
}


def seed_graph(store: SQLiteStore, embed: object = None) -> dict[str, str]:
    """Three episodes (two tasks in cluster 0, one in cluster 1), four states, six active
    skills over three tiers plus a deprecated one, two failures and two guardrails.
    With `embed` (a callable texts -> vectors) states and tasks get real embeddings."""
    ns = store.namespace
    st = {k: StateNode(signature=v, representative=v.replace("<text>", "a red mug"),
                       member_count=3) for k, v in STATE_TEXT.items()}
    tasks = {"mug": TaskNode(text="buy a red mug under 20 dollars", cluster=0, attempts=1,
                             successes=1),
             "socks": TaskNode(text="buy blue wool socks", cluster=0, attempts=1),
             "stand": TaskNode(text="find a laptop stand", cluster=1, attempts=1, successes=1)}
    acts = {"search": ActionNode(name="search", uses=3), "click": ActionNode(name="click", uses=6)}
    s = {k: v.id for k, v in st.items()}
    runs = {  # episode -> (task, success, [(state, action key, next state, error)])
        "e1": ("mug", True, [("search", "search[red mug]", "results", False),
                             ("results", "click[<id>]", "item", False),
                             ("item", "click[buy now]", "done", False)]),
        "e2": ("socks", False, [("search", "search[blue socks]", "results", False),
                                ("results", "click[next >]", "results", False),
                                ("results", "click[<id>]", "item", False),
                                ("item", "click[buy now]", "item", True)]),
        "e3": ("stand", True, [("search", "search[laptop stand]", "results", False),
                               ("results", "click[<id>]", "item", False),
                               ("item", "click[buy now]", "done", False)]),
    }
    eps: dict[str, EpisodeNode] = {}
    edges: list[EdgeRecord] = []
    trans: dict[tuple[str, str, str], list[int]] = {}
    for seq, (name, (task, ok, steps)) in enumerate(runs.items(), 1):
        ep = EpisodeNode(episode_id=name, agent="test", task=tasks[task].text, success=ok,
                         reward=1.0 if ok else 0.0, n_steps=len(steps), source_format="test",
                         seq=seq, steps=[{"state": s[a], "next_state": s[b], "key": k,
                                          "action": k.split("[")[0], "error": err, "raw": k}
                                         for a, k, b, err in steps])
        eps[name] = ep
        edges.append(EdgeRecord(src=ep.id, dst=tasks[task].id, type=Rel.ATTEMPTS))
        path = [s[a] for a, *_ in steps] + [s[steps[-1][2]]]
        edges += [EdgeRecord(src=ep.id, dst=sid, type=Rel.VISITS, key=str(i), props={"step": i})
                  for i, sid in enumerate(path)]
        for a, k, b, err in steps:
            c = trans.setdefault((s[a], s[b], k), [0, 0, 0])
            c[0], c[1], c[2] = c[0] + 1, c[1] + int(ok), c[2] + int(err)
    edges += [EdgeRecord(src=a, dst=b, type=Rel.TRANSITION, key=k,
                         props={"action": k, "name": k.split("[")[0], "count": c[0],
                                "successes": c[1], "errors": c[2]})
              for (a, b, k), c in trans.items()]
    e1, e2, e3 = eps["e1"].id, eps["e2"].id, eps["e3"].id

    def skill(tier: Tier, name: str, actions: list[str], support: int, episodes: list[str],
              **kw: object) -> SkillNode:
        return SkillNode(tier=tier, name=name, description=f"How to {name}.", actions=actions,
                         support=support, successes=support, failures=kw.pop("failures", 0),
                         utility=round(support / 4, 3), episodes=episodes, **kw)

    sk = {
        "plan": skill(Tier.STRATEGIC, "buy a product matching the instruction",
                      ["search[<query>]", "click[<id>]", "click[buy now]"], 2, [e1], scope="0"),
        "find": skill(Tier.FUNCTIONAL, "search and open a result",
                      ["search[<query>]", "click[<id>]"], 3, [e1, e3]),
        "buy": skill(Tier.FUNCTIONAL, "choose options and buy", ["click[buy now]"], 2, [e1]),
        "search": skill(Tier.ATOMIC, "search for the product", ["search[<query>]"], 3,
                        [e1, e2, e3]),
        "open": skill(Tier.ATOMIC, "open a result", ["click[<id>]"], 3, [e1, e2, e3]),
        "buynow": skill(Tier.ATOMIC, "press buy now", ["click[buy now]"], 2, [e1], failures=1),
        "old": skill(Tier.ATOMIC, "go back to search", ["click[back to search]"], 1, [e2],
                     status=Status.DEPRECATED),
    }
    k = {n: v.id for n, v in sk.items()}
    edges += [EdgeRecord(src=k[a], dst=k[b], type=Rel.COMPOSED_OF, key=str(o), props={"order": o})
              for a, b, o in [("plan", "find", 0), ("plan", "buy", 1), ("find", "search", 0),
                              ("find", "open", 1), ("buy", "buynow", 0)]]
    edges += [EdgeRecord(src=k["plan"], dst=tasks[t].id, type=Rel.PLANS_FOR)
              for t in ("mug", "socks")]
    edges += [EdgeRecord(src=k[a], dst=s[b], type=Rel.APPLIES_IN)
              for a, b in [("find", "search"), ("search", "search"), ("open", "results"),
                           ("buy", "item"), ("buynow", "item")]]
    fails = {"loop": FailureNode(error_class="loop", symptom="paged through results twice",
                                 action="click[next >]", state_id=s["results"], count=1,
                                 episodes=[e2]),
             "err": FailureNode(error_class="error", symptom="options not chosen",
                                action="click[buy now]", state_id=s["item"], count=1,
                                episodes=[e2])}
    guards = {"loop": GuardrailNode(trigger_state=s["results"], trigger="results page",
                                    forbidden=["click[next >]"], alternative="click[<id>]",
                                    rule="Open a matching result instead of paging on",
                                    severity=0.5, support=1, episodes=[e2]),
              "err": GuardrailNode(trigger_state=s["item"], trigger="item page, options unset",
                                   forbidden=["click[buy now]"], rule="Choose options first",
                                   severity=0.8, support=1, episodes=[e2])}
    for n in ("loop", "err"):
        edges += [EdgeRecord(src=fails[n].id, dst=fails[n].state_id, type=Rel.OBSERVED_IN),
                  EdgeRecord(src=guards[n].id, dst=fails[n].id, type=Rel.PREVENTS),
                  EdgeRecord(src=guards[n].id, dst=guards[n].trigger_state, type=Rel.GUARDS)]
    edges.append(EdgeRecord(src=guards["err"].id, dst=k["buynow"], type=Rel.GUARDS))
    edges.append(EdgeRecord(src=fails["err"].id, dst=acts["click"].id, type=Rel.CAUSED_BY))
    records = [m.to_record(ns) for group in (st, tasks, acts, eps, sk, fails, guards)
               for m in group.values()]
    if embed is not None:
        for rec in records:
            if rec.label.value in ("State", "Task", "Skill", "Guardrail", "Failure"):
                rec.embedding = [float(x) for x in embed([rec.text])[0]]
    for e in edges:
        e.namespace = ns
    with store.transaction():
        store.upsert_nodes(records)
        store.upsert_edges(edges)
    ids = {f"state:{n}": v for n, v in s.items()}
    ids |= {f"skill:{n}": v for n, v in k.items()}
    ids |= {f"episode:{n}": v.id for n, v in eps.items()}
    ids |= {f"guardrail:{n}": v.id for n, v in guards.items()}
    ids |= {f"failure:{n}": v.id for n, v in fails.items()}
    return ids


@pytest.fixture()
def seeded(tmp_path: Path) -> tuple[ExperienceGraph, dict[str, str]]:
    store = SQLiteStore(tmp_path / "viz.db")
    ids = seed_graph(store)
    g = ExperienceGraph(store=store, auto_distill=False)
    yield g, ids
    g.close()


def _names(sc) -> set[str]:  # noqa: ANN001
    return {n["name"] for n in sc.nodes}


# --------------------------------------------------------------------------- views


def test_hierarchy_draws_active_skills_in_tier_layers_top_down(seeded) -> None:
    g, ids = seeded
    sc = scene(g, "hierarchy")
    assert sc.drawn_nodes == 6 and sc.total_nodes == 6  # the deprecated skill is left out
    y = {n["id"]: n["y"] for n in sc.nodes}
    assert y[ids["skill:plan"]] < y[ids["skill:find"]] == y[ids["skill:buy"]] < y[ids["skill:open"]]
    assert sorted(e["label"] for e in sc.edges) == ["0", "0", "0", "1", "1"]
    assert {e["type"] for e in sc.edges} == {"COMPOSED_OF"}


def test_hierarchy_filters_by_tier_cluster_and_status(seeded) -> None:
    g, ids = seeded
    assert scene(g, "hierarchy", tiers=["atomic"]).drawn_nodes == 3
    assert scene(g, "hierarchy", include_inactive=True).drawn_nodes == 7
    # cluster 1 holds episode e3 only: the skills whose evidence includes it
    in_c1 = {n["id"] for n in scene(g, "hierarchy", cluster=1).nodes}
    assert in_c1 == {ids["skill:find"], ids["skill:search"], ids["skill:open"]}


def test_skill_nodes_carry_tier_colour_support_size_and_evidence(seeded) -> None:
    g, ids = seeded
    nodes = {n["id"]: n for n in scene(g, "hierarchy").nodes}
    plan, search = nodes[ids["skill:plan"]], nodes[ids["skill:search"]]
    assert plan["c"] == "#0072B2" and search["c"] == "#009E73"
    assert search["r"] > plan["r"]  # support 3 > 2
    assert "support: 3 episodes" in search["ev"] and search["status"] == "active"
    assert plan["cl"] == [0] and search["cl"] == [0, 1]


def test_failure_view_links_states_failures_guardrails_and_guarded_skill(seeded) -> None:
    g, ids = seeded
    sc = scene(g, "failures")
    assert sc.drawn_nodes == 7  # 2 states, 2 failures, 2 guardrails, 1 skill
    types = sorted(e["type"] for e in sc.edges)
    assert types == ["GUARDS", "GUARDS", "GUARDS", "OBSERVED_IN", "OBSERVED_IN", "PREVENTS",
                     "PREVENTS"]
    x = {n["id"]: n["x"] for n in sc.nodes}
    assert x[ids["state:item"]] < x[ids["failure:err"]] < x[ids["guardrail:err"]]
    assert x[ids["guardrail:err"]] < x[ids["skill:buynow"]]


def test_transitions_of_a_cluster_show_success_rates_from_its_episodes(seeded) -> None:
    g, ids = seeded
    sc = scene(g, "transitions", cluster=0)
    assert sc.drawn_nodes == 4
    by_pair = {(sc.nodes[e["s"]]["id"], sc.nodes[e["t"]]["id"]): e for e in sc.edges}
    opened = by_pair[(ids["state:results"], ids["state:item"])]
    assert opened["w"] == 2 and opened["rate"] == 0.5  # e1 succeeded, e2 failed
    assert opened["c"] == rate_colour(0.5)
    assert by_pair[(ids["state:results"], ids["state:results"])]["rate"] == 0.0  # e2's loop
    x = {n["id"]: n["x"] for n in sc.nodes}
    assert x[ids["state:search"]] < x[ids["state:results"]] < x[ids["state:item"]]
    c1 = scene(g, "transitions", cluster=1)
    assert all(e["rate"] == 1.0 for e in c1.edges) and len(c1.edges) == 3
    assert "1 episodes (task cluster 1)" in c1.note


def test_episode_view_lays_the_path_in_step_order_with_context(seeded) -> None:
    g, ids = seeded
    sc = scene(g, "episode", episode="2")  # by ingest number: e2, the failed one
    path = [n for n in sc.nodes if n["hl"]]
    assert {n["id"] for n in path} == {ids[f"state:{k}"] for k in ("search", "results", "item")}
    assert sorted(n["x"] for n in path) == [n["x"] for n in sorted(path, key=lambda n: n["x"])]
    steps = [e for e in sc.edges if e["type"] == "PATH"]
    assert len(steps) == 4 and sum(e["rate"] == 0.0 for e in steps) == 1  # one error step
    names = _names(sc)
    assert "search and open a result" in names and "Choose options first" in names
    assert "failed" in sc.title
    assert scene(g, "episode", episode=ids["episode:e2"]).drawn_nodes == sc.drawn_nodes


def test_unknown_episode_is_a_user_error_naming_what_to_give(seeded) -> None:
    g, _ = seeded
    with pytest.raises(ValueError, match="ingest number"):
        scene(g, "episode", episode="no-such-episode")


def test_overview_spring_layout_holds_every_non_episode_node(seeded) -> None:
    g, _ = seeded
    sc = scene(g, "overview")
    counts = g.store.count_by_label()
    assert sc.drawn_nodes == sum(counts.values()) - counts["Episode"] - 1  # minus deprecated
    assert len({(n["x"], n["y"]) for n in sc.nodes}) == sc.drawn_nodes


def test_views_of_two_namespaces_merge_with_namespace_tags(tmp_path: Path) -> None:
    a, b = SQLiteStore(tmp_path / "m.db", "team-a"), SQLiteStore(tmp_path / "m.db", "team-b")
    seed_graph(a)
    seed_graph(b)
    sc = scene([a, b], "hierarchy")
    assert sc.drawn_nodes == 12
    assert {n["ns"] for n in sc.nodes} == {"team-a", "team-b"}
    assert all(n["id"].startswith(n["ns"] + "/") for n in sc.nodes)


# --------------------------------------------------------------------------- size cap


def test_large_graph_is_capped_with_group_nodes_and_says_so() -> None:
    g = nx.MultiDiGraph()
    for i in range(50):
        add_node(g, f"s{i}", "Skill", f"skill {i}", tier="atomic", weight=i)
    for i in range(30):
        add_node(g, f"t{i}", "State", f"state {i}", weight=100 + i)
    for i in range(50):
        g.add_edge(f"s{i}", f"t{i % 30}", key="APPLIES_IN:", type="APPLIES_IN", label="",
                   title="", weight=1.0, rate=None, highlight=False)
    out, note = cap(g, 20)
    assert out.number_of_nodes() == 20
    groups = [n for n, d in out.nodes(data=True) if d["label"] == "Group"]
    assert len(groups) == 2  # the rest of the skills and the rest of the states
    kept_skills = [n for n, d in out.nodes(data=True) if d["label"] == "Skill"]
    assert kept_skills == []  # states carry more support, they fill the budget
    assert note.startswith("showing 18 of 80 nodes")
    assert "aggregated into 2 group nodes by label and tier" in note
    assert cap(g, 80) == (g, "")


def test_max_nodes_reaches_the_drawing(seeded) -> None:
    g, _ = seeded
    sc = scene(g, "overview", max_nodes=6)
    assert sc.drawn_nodes == 6 and sc.total_nodes == 19
    assert "of 19 nodes" in sc.note and sum(n["group"] for n in sc.nodes) >= 1


# --------------------------------------------------------------------------- renderers


def test_html_is_self_contained_and_embeds_every_drawn_node(seeded, tmp_path: Path) -> None:
    g, _ = seeded
    d = g.draw(view="failures", out=tmp_path / "f.html")
    page = d.path.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)
    assert not re.search(r"@import|url\(\s*['\"]?https?:|@font-face", page)
    assert not re.search(r"(src|href)\s*=\s*['\"]?https?://", page)
    data = json.loads(re.search(r'id="expgraph-data">(.*?)</script>', page, re.S)
                      .group(1).replace("<\\/", "</"))
    assert len(data["nodes"]) == d.drawn_nodes == 7
    assert data["view"] == "failures"


def test_html_escapes_text_that_would_close_the_script(seeded, tmp_path: Path) -> None:
    g, ids = seeded
    rec = g.store.get_node(ids["guardrail:err"])
    rec.props["rule"] = "never type </script><b>x</b>"
    g.store.upsert_nodes([rec])
    page = g.draw(view="failures", out=tmp_path / "x.html").path.read_text(encoding="utf-8")
    assert page.count("</script>") == 2  # the data block's and the code's own


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_static_figure_is_written_in_each_format(seeded, tmp_path: Path, suffix: str) -> None:
    g, _ = seeded
    out = g.draw(view="transitions", cluster=0, out=tmp_path / f"t{suffix}").path
    head = out.read_bytes()[:8]
    assert {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}[suffix] in head
    assert out.stat().st_size > 5000


def test_svg_figure_names_the_drawn_nodes(seeded, tmp_path: Path) -> None:
    g, _ = seeded
    svg = g.draw(view="hierarchy", out=tmp_path / "h.svg").path.read_text(encoding="utf-8")
    assert "search and open a result" in svg and "choose options and buy" in svg


def test_unknown_view_and_bad_suffix_are_user_errors(seeded, tmp_path: Path) -> None:
    g, _ = seeded
    with pytest.raises(ValueError, match="choose one of hierarchy"):
        g.draw(view="nope")
    with pytest.raises(ValueError, match=r"\.png"):
        g.draw(view="hierarchy", out=tmp_path / "h.jpg")


# --------------------------------------------------------------------------- CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "expgraph", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_cli_viz_writes_the_view_and_reports_counts_as_json(seeded, tmp_path: Path) -> None:
    g, _ = seeded
    out = tmp_path / "h.html"
    r = _cli("viz", "--db", g.store.path, "--out", str(out), "--view", "hierarchy",
             "--tier", "atomic", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["drawn_nodes"] == 3 and report["view"] == "hierarchy"
    assert report["out"] == str(out) and out.exists()


def test_cli_viz_rejects_a_missing_episode_with_a_clear_error(seeded, tmp_path: Path) -> None:
    g, _ = seeded
    r = _cli("viz", "--db", g.store.path, "--out", str(tmp_path / "e.html"), "--view", "episode")
    assert r.returncode == 2 and "--episode" in r.stderr


def test_every_view_has_its_cypher_and_unknown_views_are_refused() -> None:
    from expgraph.viz import VIEWS, cypher_for

    for view in VIEWS:
        text = cypher_for(view)
        assert "MATCH" in text and "$ns" in text
    assert "COMPOSED_OF" in cypher_for("hierarchy") and "PREVENTS" in cypher_for("failures")
    with pytest.raises(ValueError, match="choose one of"):
        cypher_for("nope")
