"""Reliability (issue 15): malformed inputs, kill -9, concurrent writers, HTTP fuzzing and
/suggest latency during ingest. Prints a table and writes bench/results/reliability.json.

    .venv/bin/python bench/reliability.py [--examples 12] [--kills 6] [--fuzz 25]

- malformed inputs: per format, named cases (deep nesting, lone surrogates, NUL and
  undecodable bytes, truncation, wrong types) plus hypothesis-generated mutations of a good
  record; each between two good records. Counted: tracebacks, good episodes lost.
- kill -9: a child ingests and SIGKILLs itself as it claims its (N+1)-th episode (mid-batch), or as its
  online distillation starts writing; then a re-run. Counted: partial episodes, lost
  episodes, empty derived layers after the re-run.
- concurrent writers: two processes ingest two files into one store; nodes and edges that
  differ from one process ingesting the same episodes in the committed order.
- concurrent openers: processes open one new store file at one instant; opens that failed.
- HTTP: schemathesis against the app's OpenAPI schema; 5xx answers counted server-side.
- latency: 4 clients calling /suggest, idle and while episodes are POSTed.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (  # noqa: E402
    derived_counts,
    divergence,
    episodes_in_commit_order,
    open_together,
    reference,
    run_child,
    write_corpus,
)
from expgraph.embedder import default_embedder  # noqa: E402
from expgraph.graph import ExperienceGraph  # noqa: E402
from expgraph.models import Label  # noqa: E402
from ingestion.errors import FormatError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEEP = "[" * 100_000 + "]" * 100_000


# ------------------------------------------------------------------------ malformed inputs
def _nested(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth - 1):
        v = {"k": v}
    return v


def _canonical(task: str) -> dict:
    return {"id": task, "task": task, "agent": "bench", "outcome": {"success": True},
            "steps": [{"observation": f"WebShop results for {task}",
                       "action": {"name": "search", "arguments": {"query": task}},
                       "result": "[Back to Search] Page 1"}]}


def _chat(task: str, args: str = '{"q": "mug"}') -> list[dict]:
    return [{"role": "user", "content": task},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                "name": "search", "arguments": args}}]},
            {"role": "tool", "tool_call_id": "c1", "content": f"results for {task}"}]


def _tau(task: str) -> dict:
    return {"task_id": 1, "reward": 1.0, "traj": _chat(task)}


def _react(task: str, obs: str = "results") -> str:
    return (f"-----\n0\nAction: reset\nObservation: Instruction: {task}\n"
            f"Action: search[{task}]\nObservation: {obs} for {task}\n")


def _reflexion(task: str, obs: str = "It is a river") -> str:
    return (f"Question: {task}\nThought 1: look it up\nAction 1: Search[{task}]\n"
            f"Observation 1: {obs}.\nCorrect answer: Nile\n\n")


# format -> (suffix, writer of [good, bad, good] as bytes, named bad records)
def _jsonl(records: list[Any]) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n"
                    for r in records)


def _named_cases() -> dict[str, list[tuple[str, Any]]]:
    deep_meta = {**_canonical("deep-meta"), "metadata": {"m": _nested(900)}}
    surrogate = _canonical("surrogate")
    surrogate["steps"][0]["observation"] = "a\ud800b"
    good_line = json.dumps(_canonical("bytes")).encode()
    canonical = [
        ("100k-deep line", DEEP.encode()),
        ("100k-deep metadata", b'{"task": "t", "metadata": ' + DEEP.encode() + b"}"),
        ("metadata 900 deep", deep_meta),
        ("lone surrogate", surrogate),
        ("NUL byte", good_line[:30] + b"\x00" + good_line[30:]),
        ("0xff byte", good_line[:30] + b"\xff" + good_line[30:]),
        ("CESU surrogate bytes", good_line[:30] + b"\xed\xa0\x80" + good_line[30:]),
        ("truncated line", good_line[:40]),
        ("steps is a string", {**_canonical("x"), "steps": "oops"}),
        ("empty object", {}),
        ("array not object", [1, 2, 3]),
        ("1 MB observation", {**_canonical("big"), "steps": [{
            "observation": "x" * 1_000_000, "action": {"name": "look"}}]}),
    ]
    chat = [
        ("100k-deep arguments string", _chat("deep args", DEEP)),
        ("arguments 900 deep", _chat("deep args 2", json.dumps(_nested(900)))),
        ("100k-deep line", DEEP.encode()),
        ("lone surrogate content", _chat("a\udfffb")),
        ("tool_calls not a list", [{"role": "user", "content": "x"},
                                   {"role": "assistant", "tool_calls": "nope"}]),
        ("role missing", [{"content": "x"}]),
        ("0xff byte", json.dumps(_chat("bytes")).encode().replace(b"bytes", b"by\xfftes", 1)),
    ]
    tau = [
        ("100k-deep traj", json.loads('{"task_id": 2, "reward": 1, "traj": []}') | {
            "traj": "DEEP"}),
        ("reward is text", {**_tau("reward"), "reward": "high"}),
        ("lone surrogate", _tau("a\ud800b")),
        ("NUL in a string", _tau("nul\x00here")),
        ("traj missing", {"task_id": 3, "reward": 0}),
    ]
    react = [
        ("0xff byte", _react("bad byte", "res\xffults")),
        ("NUL byte", _react("nul byte", "res\x00ults")),
        ("empty action", "-----\n0\nAction: reset\nObservation: Instruction: x\nAction: \n"
                         "Observation: y\n"),
        ("100k-char line", _react("long", "y" * 100_000)),
    ]
    reflexion = [
        ("0xff byte", _reflexion("bad byte", "riv\xffer")),
        ("NUL byte", _reflexion("nul byte", "riv\x00er")),
        ("question empty", "Question: \nThought 1: x\nAction 1: Search[x]\nObservation 1: y\n"
                           "Correct answer: z\n\n"),
    ]
    return {"canonical": canonical, "openai_chat": chat, "tau_bench": tau,
            "react_text": react, "reflexion": reflexion}


def _file_bytes(fmt: str, bad: Any, tag: str) -> tuple[str, bytes, list[str]]:
    """(suffix, file content, tasks of the good records) for one malformed record."""
    goods = [f"good before {tag}", f"good after {tag}"]
    if fmt == "canonical":
        return ".jsonl", _jsonl([_canonical(goods[0]), bad, _canonical(goods[1])]), goods
    if fmt == "openai_chat":
        return ".jsonl", _jsonl([_chat(goods[0]), bad, _chat(goods[1])]), goods
    if fmt == "tau_bench":
        if isinstance(bad, bytes):
            return ".json", b"[" + json.dumps(_tau(goods[0])).encode() + b",\n" + bad + \
                b",\n" + json.dumps(_tau(goods[1])).encode() + b"]", goods
        text = json.dumps([_tau(goods[0]), bad, _tau(goods[1])])
        text = text.replace('"DEEP"', DEEP)
        return ".json", text.encode("utf-8", "surrogatepass"), goods
    make = _react if fmt == "react_text" else _reflexion
    # a "\xff" in a named text case stands for that raw byte
    raw = bad if isinstance(bad, bytes) else bad.encode().replace("\xff".encode(), b"\xff")
    return ".txt", make(goods[0]).encode() + raw + make(goods[1]).encode(), goods


def _run_case(fmt: str, data: bytes, suffix: str, goods: list[str], model: Any,
              tmp: Path) -> dict[str, int]:
    path = tmp / f"case{suffix}"
    path.write_bytes(data)
    db = tmp / "case.db"
    for p in tmp.glob("case.db*"):
        p.unlink()
    g = ExperienceGraph(db, embedder=model, auto_distill=False)
    tb = 0
    try:
        g.ingest(path, format=fmt)
    except FormatError:
        pass
    except Exception:  # noqa: BLE001 - what this benchmark counts
        tb = 1
        traceback.print_exc(limit=2)
    tasks = {r.props.get("task") for r in g.store.find_nodes(Label.EPISODE)}
    g.close()
    return {"tracebacks": tb, "good_lost": sum(t not in tasks for t in goods)}


def _hypothesis_cases(fmt: str, n: int, run: Any) -> None:
    """`n` hypothesis-generated malformed records of `fmt`, each through `run(bad, tag)`."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    bad_text = st.one_of(
        st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1,
                max_size=3),
        st.text(st.characters(codec="utf-8"), max_size=40),
        st.sampled_from(["\x00", "\ufffe", "\u202e", "\ud83d"]))
    depth = st.sampled_from([3, 150, 900, 5000])
    json_value = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | bad_text,
        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(bad_text, kids, max_size=3),
        max_leaves=8)
    raw_bytes = st.binary(min_size=1, max_size=6)
    counter = iter(range(1_000_000))

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(["leaf", "depth", "bytes", "truncate"]), value=json_value,
           d=depth, junk=raw_bytes, cut=st.integers(min_value=1, max_value=200),
           seed=st.integers(min_value=0, max_value=10_000))
    def generated(kind: str, value: Any, d: int, junk: bytes, cut: int, seed: int) -> None:
        tag = f"gen{next(counter)}"
        rng = random.Random(seed)
        if fmt in ("react_text", "reflexion"):
            make = _react if fmt == "react_text" else _reflexion
            run(make(tag, "obs @JUNK@ end").encode().replace(b"@JUNK@", junk), tag)
            return
        base: Any = {"canonical": _canonical, "openai_chat": _chat, "tau_bench": _tau}[fmt](tag)
        leaves = _leaves(base)
        holder, key = leaves[rng.randrange(len(leaves))]
        if kind == "leaf":
            holder[key] = value
        elif kind == "depth":  # spliced as text: json.dumps itself cannot go that deep
            holder[key] = "@DEEP@"
            run(json.dumps(base).replace('"@DEEP@"', "[" * d + "1" + "]" * d).encode(), tag)
            return
        if fmt == "tau_bench" and kind in ("bytes", "truncate"):
            # raw bytes inside one string of the document (a byte that ends the string would
            # break the whole document, which is one JSON value)
            clean = junk.replace(b'"', b"").replace(b"\\", b"") or b"\xff"
            holder[key] = f"{holder[key]}{clean.decode('utf-8', 'surrogateescape')}"
            run(json.dumps(base, ensure_ascii=False).encode("utf-8", "surrogateescape"), tag)
            return
        if kind == "leaf":
            run(base, tag)
            return
        line = json.dumps(base).encode()
        if kind == "bytes":
            at = rng.randrange(len(line))
            line = line[:at] + junk + line[at:]
        else:
            line = line[:max(1, len(line) - cut)]
        run(line, tag)

    generated()


def _leaves(obj: Any) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    stack = [obj]
    while stack:
        cur = stack.pop()
        items = cur.items() if isinstance(cur, dict) else enumerate(cur)
        for k, v in items:
            if isinstance(v, dict | list) and v:
                stack.append(v)
            else:
                out.append((cur, k))
    return out


def malformed(model: Any, examples: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for fmt, cases in _named_cases().items():
            row = {"named": 0, "generated": 0, "tracebacks": 0, "good_lost": 0}

            def run(bad: Any, tag: str, kind: str = "generated", fmt: str = fmt,
                    row: dict = row) -> None:
                suffix, data, goods = _file_bytes(fmt, bad, tag)
                res = _run_case(fmt, data, suffix, goods, model, tmp)
                row[kind] += 1
                row["tracebacks"] += res["tracebacks"]
                row["good_lost"] += res["good_lost"]
                if res["tracebacks"] or res["good_lost"]:
                    print(f"  {fmt} {tag}: {res}", file=sys.stderr)

            for i, (_name, bad) in enumerate(cases):
                run(bad, f"named{i}", "named")
            _hypothesis_cases(fmt, examples, run)
            out[fmt] = row
    return out


# ------------------------------------------------------------------------ kills + writers
def kills(model: Any, trials: int) -> dict[str, int]:
    res = {"trials": 0, "partial_episodes": 0, "lost_episodes": 0, "empty_derived_layer": 0,
           "diverged_from_clean_run": 0}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        src = tmp / "runs.jsonl"
        eps = write_corpus(src, 24, seed=11)
        ref = reference(tmp / "ref.db", [src], [e.id for e in eps], model)
        plans = [("--kill-after", str(n)) for n in (1, 7, 13, 23)]
        plans += [("--kill-in-distill", "1"), ("--kill-in-distill", "2")]
        for opt in (plans * (1 + trials // len(plans)))[:trials]:
            db = tmp / "k.db"
            for p in tmp.glob("k.db*"):
                p.unlink()
            rc, out = run_child(db, src, *opt, "--batch", "4")
            res["trials"] += 1
            if rc != -signal.SIGKILL:
                print(f"  kill trial {opt}: child ended with {rc}: {out[-400:]}", file=sys.stderr)
            g = ExperienceGraph(db, embedder=model)
            for r in g.store.find_nodes(Label.EPISODE):
                visits = len(g.store.edges(src=r.id, rel_type="VISITS"))
                res["partial_episodes"] += visits != len(r.props["steps"]) + 1
            g.ingest(src)  # the re-run
            stored = {r.props["episode_id"] for r in g.store.find_nodes(Label.EPISODE)}
            res["lost_episodes"] += sum(e.id not in stored for e in eps)
            res["empty_derived_layer"] += derived_counts(g.store)["Skill"] == 0
            res["diverged_from_clean_run"] += divergence(g.store, ref.store) != {
                "nodes": 0, "edges": 0}
            g.close()
        ref.close()
    return res


def writers(model: Any, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        files = [tmp / "a.jsonl", tmp / "b.jsonl"]
        write_corpus(files[0], n, seed=21)
        write_corpus(files[1], n, seed=22)
        db, go = tmp / "w.db", tmp / "go"
        ready = [tmp / "r0", tmp / "r1"]
        procs = [subprocess.Popen(
            [sys.executable, "-m", "bench.harness", "ingest", str(db), str(f), "--batch", "4",
             "--ready", str(r), "--start-after", str(go)], cwd=REPO, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) for f, r in zip(files, ready, strict=True)]
        while not all(r.exists() for r in ready) and all(p.poll() is None for p in procs):
            time.sleep(0.05)
        go.touch()
        outs = [p.communicate()[0] for p in procs]
        rcs = [p.returncode for p in procs]
        if any(rcs):
            print("  writers:", outs, file=sys.stderr)
        g = ExperienceGraph(db, embedder=model)
        seqs = [r.props["seq"] for r in g.store.find_nodes(Label.EPISODE)]
        order = episodes_in_commit_order(g.store)
        switches = sum(a[:3] != b[:3] for a, b in zip(order, order[1:], strict=False))
        ref = reference(tmp / "ref.db", files, order, model)
        online = divergence(g.store, ref.store)
        g.distill()
        ref.distill()
        rebuilt = divergence(g.store, ref.store)
        counts = (derived_counts(g.store), derived_counts(ref.store))
        g.close()
        ref.close()
    return {"episodes": 2 * n, "child_errors": sum(bool(r) for r in rcs),
            "duplicate_seq": len(seqs) - len(set(seqs)), "interleavings": switches,
            "diverged_online": online, "diverged_after_rebuild": rebuilt,
            "counts": counts[0], "reference_counts": counts[1]}


def openers(trials: int, processes: int) -> dict[str, int]:
    """`trials` times, `processes` processes open one new store file at one instant."""
    failed = 0
    with tempfile.TemporaryDirectory() as d:
        for t in range(trials):
            met = open_together(Path(d) / f"o{t}.db", processes)
            bad = [m for m in met.values() if m != "ok"]
            if bad:
                print("  openers:", bad[0], file=sys.stderr)
            failed += len(bad)
    return {"trials": trials, "processes": processes, "failed_opens": failed}


# ------------------------------------------------------------------------ HTTP
class _Statuses:
    """ASGI wrapper counting response statuses server-side (what a fuzzer cannot hide)."""

    def __init__(self, app: Any) -> None:
        self.app, self.counts = app, {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counting(msg: Any) -> None:
            if msg["type"] == "http.response.start":
                self.counts[msg["status"]] = self.counts.get(msg["status"], 0) + 1
            await send(msg)

        await self.app(scope, receive, counting)


def _serve(app: Any) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.02)
    return server, t, f"http://127.0.0.1:{port}"


def _graphs(tmp: Path, model: Any, n: int) -> tuple[ExperienceGraph, ExperienceGraph]:
    db = tmp / "http.db"
    src = tmp / "seed.jsonl"
    write_corpus(src, n, seed=31)
    g = ExperienceGraph(db, embedder=model)
    g.ingest(src)
    return g, ExperienceGraph(db, embedder=model)


def fuzz(model: Any, examples: int) -> dict[str, Any]:
    from queries.http import create_app

    token = "bench-token"
    with tempfile.TemporaryDirectory() as d:
        graph, writer = _graphs(Path(d), model, 30)
        app = _Statuses(create_app(graph, token=token, writer=writer))
        server, t, url = _serve(app)
        st = shutil.which("st") or str(Path(sys.executable).parent / "st")
        proc = subprocess.run(
            [st, "run", f"{url}/openapi.json", "-H", f"Authorization: Bearer {token}",
             "-n", str(examples), "--seed", "1", "--checks", "not_a_server_error",
             "--continue-on-failure", "--request-timeout", "120"],
            capture_output=True, text=True)
        server.should_exit = True
        t.join()
        writer.close()
        graph.close()
    if proc.returncode not in (0, 1):
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    fivexx = sum(c for s, c in app.counts.items() if s >= 500)
    if fivexx:
        print(proc.stdout[-3000:], file=sys.stderr)
    return {"requests": sum(app.counts.values()), "5xx": fivexx,
            "statuses": {str(k): v for k, v in sorted(app.counts.items())},
            "schemathesis_rc": proc.returncode}


def latency(model: Any, per_client: int, posts: int) -> dict[str, Any]:
    import httpx
    import numpy as np

    from queries.http import create_app

    token = "bench-token"
    headers = {"Authorization": f"Bearer {token}"}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        graph, writer = _graphs(tmp, model, 60)
        extra = write_corpus(tmp / "more.jsonl", posts * 5, seed=41)
        bodies = [[json.loads(e.model_dump_json(exclude_none=True)) for e in extra[i::posts]]
                  for i in range(posts)]
        states = [e.steps[0].observation for e in extra[:50]]
        server, t, url = _serve(create_app(graph, token=token, writer=writer))

        ingesting = threading.Event()

        def suggest_times(client: httpx.Client, k: int) -> list[float]:
            out: list[float] = []
            i = 0
            while i < k or ingesting.is_set():  # during ingest: for as long as it lasts
                i += 1
                t0 = time.perf_counter()
                r = client.post("/suggest", json={"state": f"{states[i % len(states)]} {i}"})
                out.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text
            return out

        def clients(k: int) -> list[float]:
            with httpx.Client(base_url=url, headers=headers, timeout=300) as c, \
                    ThreadPoolExecutor(4) as pool:
                return [x for f in [pool.submit(suggest_times, c, k) for _ in range(4)]
                        for x in f.result()]

        clients(5)  # warm caches
        idle = clients(per_client)
        errors = 0

        def post(body: list) -> None:
            nonlocal errors
            with httpx.Client(base_url=url, headers=headers, timeout=600) as c:
                r = c.post("/episodes", json=body)
                errors += r.status_code != 200

        ingesting.set()
        with ThreadPoolExecutor(posts) as pool:
            futures = [pool.submit(post, b) for b in bodies]
            measured = ThreadPoolExecutor(1).submit(clients, 1)
            t_ingest = time.perf_counter()
            for f in futures:
                f.result()
            t_ingest = time.perf_counter() - t_ingest
            ingesting.clear()
            busy = measured.result()
        server.should_exit = True
        t.join()
        writer.close()
        graph.close()

    def ms(xs: list[float], q: float) -> float:
        return round(float(np.percentile(xs, q)) * 1000, 1)

    return {"idle_p50_ms": ms(idle, 50), "idle_p95_ms": ms(idle, 95),
            "ingest_p50_ms": ms(busy, 50), "ingest_p95_ms": ms(busy, 95),
            "ingest_max_ms": round(max(busy) * 1000, 1), "requests": len(busy),
            "posts": posts, "episodes_posted": len(extra), "post_errors": errors,
            "ingest_seconds": round(t_ingest, 1),
            "p95_ratio": round(ms(busy, 95) / max(ms(idle, 95), 1e-9), 2)}


# ------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=12, help="generated cases per format")
    ap.add_argument("--kills", type=int, default=6, help="kill -9 trials")
    ap.add_argument("--writers", type=int, default=24, help="episodes per concurrent writer")
    ap.add_argument("--openers", type=int, default=40,
                    help="trials of 6 processes opening one new store at once")
    ap.add_argument("--fuzz", type=int, default=25, help="schemathesis examples per operation")
    ap.add_argument("--suggests", type=int, default=50, help="/suggest calls per client")
    ap.add_argument("--posts", type=int, default=20, help="concurrent POST /episodes")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "reliability.json")
    args = ap.parse_args()
    model = default_embedder()
    t0 = time.perf_counter()
    res: dict[str, Any] = {"malformed": malformed(model, args.examples)}
    res["kill9"] = kills(model, args.kills)
    res["writers"] = writers(model, args.writers)
    res["openers"] = openers(args.openers, 6)
    res["http_fuzz"] = fuzz(model, args.fuzz)
    res["suggest_latency"] = latency(model, args.suggests, args.posts)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    _print(res)


def _print(res: dict[str, Any]) -> None:
    rows: list[tuple[str, str]] = []
    for fmt, r in res["malformed"].items():
        rows.append((f"malformed {fmt}", f"{r['named']} named + {r['generated']} generated; "
                     f"{r['tracebacks']} tracebacks, {r['good_lost']} good episodes lost"))
    k = res["kill9"]
    rows.append(("kill -9", f"{k['trials']} trials; {k['partial_episodes']} partial, "
                 f"{k['lost_episodes']} lost episodes, {k['empty_derived_layer']} empty derived "
                 f"layers after re-run, {k['diverged_from_clean_run']} differ from a clean run"))
    w = res["writers"]
    rows.append(("2 concurrent writers", f"{w['episodes']} episodes, {w['interleavings']} "
                 f"interleavings; {w['duplicate_seq']} duplicate seq; divergence online "
                 f"{w['diverged_online']}, after rebuild {w['diverged_after_rebuild']}"))
    o = res["openers"]
    rows.append((f"{o['processes']} processes opening one new store", f"{o['trials']} trials; "
                 f"{o['failed_opens']} failed opens"))
    f = res["http_fuzz"]
    rows.append(("HTTP fuzz (schemathesis)", f"{f['requests']} requests; {f['5xx']} 5xx; "
                 f"statuses {f['statuses']}"))
    lat = res["suggest_latency"]
    rows.append(("/suggest idle", f"p50 {lat['idle_p50_ms']} ms, p95 {lat['idle_p95_ms']} ms"))
    rows.append(("/suggest during ingest", f"p50 {lat['ingest_p50_ms']} ms, p95 "
                 f"{lat['ingest_p95_ms']} ms, max {lat['ingest_max_ms']} ms; p95 ratio "
                 f"{lat['p95_ratio']} ({lat['posts']} POST /episodes, {lat['post_errors']} "
                 "errors)"))
    width = max(len(a) for a, _ in rows)
    print(f"{'check'.ljust(width)}  result")
    print(f"{'-' * width}  {'-' * 60}")
    for a, b in rows:
        print(f"{a.ljust(width)}  {b}")
    print(f"({res['seconds']} s)")


if __name__ == "__main__":
    main()
