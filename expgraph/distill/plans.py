"""Strategic plans: tasks clustered by embedding, one plan per cluster with successes.

Clustering is agglomerative (average linkage, cosine distance <= TASK_CLUSTER_DISTANCE): no k
to guess, deterministic for a given set of tasks (inputs sorted by id), so online and offline
runs agree. On WebShop's 500 tasks, silhouette (cosine) by threshold: 0.3 -> 335 clusters
(0.128), 0.4 -> 200 (0.168), 0.5 -> 107 (0.157), 0.6 -> 31 (0.106), 0.7 -> 5 (0.074); 0.5 is
within 0.01 of the best silhouette with half the clusters of 0.4, so plans pool more runs.
Cluster numbers follow the first episode of each cluster, so they stay put as data grows.
It is O(n^2) in memory: fine to a few thousand distinct tasks.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from expgraph.distill.corpus import Corpus, EpisodeView
from expgraph.distill.skills import atomic_id, episode_sample, parameters, short, top
from expgraph.models import EdgeRecord, NodeRecord, Rel, SkillNode, TaskNode, Tier
from expgraph.scoring import utility

TASK_CLUSTER_DISTANCE = 0.5


def cluster_tasks(tasks: list[NodeRecord], first_seq: dict[str, int]) -> dict[str, int]:
    """Task id -> cluster number (0 = the cluster whose first episode came first)."""
    recs = sorted((r for r in tasks if r.embedding is not None), key=lambda r: r.id)
    if not recs:
        return {}
    if len(recs) == 1:
        labels = np.zeros(1, dtype=int)
    else:
        from sklearn.cluster import AgglomerativeClustering

        x = np.asarray([r.embedding for r in recs], dtype=np.float64)
        labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                         distance_threshold=TASK_CLUSTER_DISTANCE).fit_predict(x)
    order: dict[int, tuple[int, str]] = {}
    for r, lab in zip(recs, labels, strict=True):
        key = (first_seq.get(r.id, 1 << 60), r.id)
        order[int(lab)] = min(order.get(int(lab), key), key)
    renumber = {lab: i for i, lab in enumerate(sorted(order, key=order.__getitem__))}
    return {r.id: renumber[int(lab)] for r, lab in zip(recs, labels, strict=True)}


def compress(seq: tuple[str, ...], functional: dict[tuple[str, ...], str]) -> list[str]:
    """Skill ids covering `seq` left to right, the longest functional skill first."""
    out, i = [], 0
    lengths = sorted({len(k) for k in functional}, reverse=True)
    while i < len(seq):
        for n in lengths:
            if i + n <= len(seq) and seq[i:i + n] in functional:
                out.append(functional[seq[i:i + n]])
                i += n
                break
        else:
            out.append(atomic_id(seq[i]))
            i += 1
    return out


def plans(corpus: Corpus, tasks: list[NodeRecord], functional: list[SkillNode]
          ) -> tuple[list[SkillNode], list[EdgeRecord], list[NodeRecord]]:
    """(plan skills, their edges, Task records whose cluster changed)."""
    task_of = {e.id: TaskNode(text=e.task).id for e in corpus.episodes}
    first_seq: dict[str, int] = {}
    for e in corpus.episodes:
        first_seq.setdefault(task_of[e.id], e.seq)
    cluster = cluster_tasks(tasks, first_seq)
    changed = []
    for r in tasks:
        if r.id in cluster and r.props.get("cluster") != cluster[r.id]:
            changed.append(r.model_copy(update={"props": {**r.props, "cluster": cluster[r.id]},
                                                 "embedding": None}))
    members: dict[int, list[EpisodeView]] = defaultdict(list)
    for e in corpus.distinct:
        if task_of[e.id] in cluster:
            members[cluster[task_of[e.id]]].append(e)
    text_of = {r.id: r.props.get("text", r.text) for r in tasks}
    fmap = {tuple(s.actions): s.id for s in functional}
    out: list[SkillNode] = []
    edges: list[EdgeRecord] = []
    for c in sorted(members):
        eps = members[c]
        runs = {e.id: tuple(s.template for s in e.procedure()) for e in eps}
        wins = [e for e in eps if e.success and runs[e.id]]
        if not wins:
            continue
        counts = Counter(runs[e.id] for e in wins)
        seq = max(counts, key=lambda s: (counts[s], -min(e.seq for e in wins if runs[e.id] == s)))
        follow = [e for e in wins if runs[e.id] == seq]
        failed = [e for e in eps if e.success is False and runs[e.id] == seq]
        task_ids = sorted({task_of[e.id] for e in eps})
        rep = text_of.get(task_of[min(eps, key=lambda e: e.seq).id], "")
        parts = compress(seq, fmap)
        pre = Counter(e.procedure()[0].state for e in follow if e.procedure()[0].state)
        post = Counter(e.procedure()[-1].next_state for e in follow
                       if e.procedure()[-1].next_state)
        s, f = len(follow), len(failed)
        plan = SkillNode(
            tier=Tier.STRATEGIC, scope=f"cluster:{c}", actions=list(seq),
            name=f"plan for tasks like '{short(rep, 60)}'",
            description=(f"For {len(task_ids)} tasks like '{short(rep, 80)}': "
                         f"{' -> '.join(seq)}. {s} of {len(wins)} successful episodes of this "
                         f"cluster followed it; {f} failed episodes did too."),
            parameters=parameters(seq), preconditions=top(pre), verification=top(post),
            support=s, uses=s + f, successes=s, failures=f, utility=utility(s, f),
            episodes=episode_sample(follow))
        out.append(plan)
        edges += [EdgeRecord(src=plan.id, dst=t, type=Rel.PLANS_FOR) for t in task_ids]
        edges += [EdgeRecord(src=plan.id, dst=p, type=Rel.COMPOSED_OF, key=str(i),
                             props={"order": i}) for i, p in enumerate(parts)]
        edges += [EdgeRecord(src=plan.id, dst=x, type=Rel.APPLIES_IN) for x in plan.preconditions]
        edges += [EdgeRecord(src=plan.id, dst=x, type=Rel.LEADS_TO) for x in plan.verification]
        edges += [EdgeRecord(src=plan.id, dst=x, type=Rel.DERIVED_FROM) for x in plan.episodes]
    return out, edges, changed
