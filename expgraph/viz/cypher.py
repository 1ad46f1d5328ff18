"""The Cypher behind each view, for readers whose store is Neo4j: run it in Neo4j Browser or
Bloom to get the same subgraph. Printed by notebooks/explore.ipynb; never run by `draw`, which
reads through the store protocol on every backend.

Nodes carry their label plus `ExpNode`, and `id`, `namespace` and their scalar props as
properties (see expgraph/store/neo4j.py); `$ns` is the namespace.
"""

from __future__ import annotations

from expgraph.errors import UsageError

CYPHER: dict[str, str] = {
    "hierarchy": """\
// plans -> functional -> atomic skills, with the order of each part
MATCH (s:Skill {namespace: $ns})
WHERE s.status = 'active' AND ($tier IS NULL OR s.tier = $tier)
OPTIONAL MATCH (s)-[c:COMPOSED_OF]->(part:Skill {namespace: $ns, status: 'active'})
RETURN s.id AS id, s.tier AS tier, s.name AS name, s.support AS support,
       s.utility AS utility, collect({part: part.id, order: c.order}) AS parts
ORDER BY CASE s.tier WHEN 'strategic' THEN 0 WHEN 'functional' THEN 1 ELSE 2 END,
         s.support DESC""",
    "failures": """\
// failure -> guardrail map: where it happened, what prevents it, what the rule guards
MATCH (f:Failure {namespace: $ns})-[:OBSERVED_IN]->(s:State)
OPTIONAL MATCH (g:Guardrail {namespace: $ns})-[:PREVENTS]->(f)
OPTIONAL MATCH (g)-[:GUARDS]->(x)
RETURN s.id AS state, f.error_class AS error_class, f.action AS action, f.count AS count,
       g.rule AS guardrail, g.severity AS severity, collect(DISTINCT x.id) AS guards
ORDER BY f.count DESC""",
    "transitions": """\
// the states a task cluster's episodes visit and the transitions between them
// (edge counts here are over all episodes; the drawn view recounts them per cluster)
MATCH (e:Episode {namespace: $ns})-[:ATTEMPTS]->(:Task {cluster: $cluster})
MATCH (e)-[:VISITS]->(s:State)
WITH collect(DISTINCT s) AS states
UNWIND states AS a
MATCH (a)-[r:TRANSITION]->(b:State)
WHERE b IN states
RETURN a.id AS src, b.id AS dst, r.action AS action, r.count AS count,
       toFloat(r.successes) / r.count AS success_rate
ORDER BY count DESC""",
    "episode": """\
// one episode's path (VISITS in step order) and what the graph knows in each state
MATCH (e:Episode {namespace: $ns, seq: $seq})-[v:VISITS]->(s:State)
WITH s, v.step AS step ORDER BY step
OPTIONAL MATCH (k:Skill {status: 'active'})-[:APPLIES_IN]->(s)
OPTIONAL MATCH (g:Guardrail {status: 'active'})-[:GUARDS]->(s)
RETURN step, s.id AS state, s.representative AS seen,
       collect(DISTINCT k.name) AS skills, collect(DISTINCT g.rule) AS guardrails
ORDER BY step""",
    "query": """\
// from the states nearest to the query to each result: the shortest graph path
MATCH (s:State {namespace: $ns}) WHERE s.id IN $nearest_states
MATCH (r:ExpNode {namespace: $ns}) WHERE r.id IN $result_ids
MATCH p = shortestPath((s)-[:APPLIES_IN|GUARDS|COMPOSED_OF|PREVENTS|OBSERVED_IN|PLANS_FOR|
                            TRANSITION|LEADS_TO*..4]-(r))
RETURN r.id AS result, [n IN nodes(p) | n.id] AS path, length(p) AS hops
ORDER BY hops""",
    "overview": """\
// everything but the episodes, most supported first
MATCH (n:ExpNode {namespace: $ns}) WHERE NOT n:Episode
OPTIONAL MATCH (n)-[r]->(m:ExpNode {namespace: $ns}) WHERE NOT m:Episode
RETURN n, r, m
LIMIT $max_nodes""",
}


def cypher_for(view: str) -> str:
    """The Cypher for a view (parameters start with `$`)."""
    try:
        return CYPHER[view]
    except KeyError:
        raise UsageError(f"unknown view {view!r}; choose one of {', '.join(CYPHER)}") from None
