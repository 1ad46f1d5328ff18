"""Every Cypher statement the Bolt store sends, built here and nowhere else.

Builders are pure functions of a statement's *shape* (label, relationship type, accumulated
props, filter keys, direction, dialect), never of user values: those travel as parameters.
`neo4j_registry.statements()` calls the same builders over every shape, so Neo4j's own Cypher
linter checks exactly what the store runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from expgraph.store.dialect import CACHE_LABEL, GEN_LABEL, META_LABEL, NODE_LABEL
from expgraph.store.neo4j_rows import edge_columns, ident, node_columns, top_name

# ------------------------------------------------------------------ writes


def accumulate_fragments(var: str, acc: Sequence[str]) -> tuple[str, str]:
    """Fragments that keep the stored value of each accumulated prop (`olds`, for the WITH)
    and add the incoming one to it (`sums`, for the SET); a fresh entity takes the row's."""
    olds = "".join(f", {var}.{ident(a)} AS old_{j}" for j, a in enumerate(acc))
    sums = "".join(
        f", {var}.{ident(a)} = CASE WHEN fresh THEN row.props.{ident(a)} "
        f"ELSE coalesce(old_{j}, 0) + coalesce(row.props.{ident(a)}, 0) END"
        for j, a in enumerate(acc))
    return olds, sums


def upsert_nodes(label: str, acc: Sequence[str]) -> str:
    """MERGE a batch of node rows of one label ($rows, $acc: the accumulated names)."""
    olds, sums = accumulate_fragments("n", acc)
    return (f"UNWIND $rows AS row MERGE (n:{NODE_LABEL}:{label} {{uid: row.uid}}) "
            f"ON CREATE SET n._new = true "
            f"WITH n, row, n._new IS NOT NULL AS fresh, n.embedding AS old_emb, "
            f"n.created_at AS old_created, coalesce(n._ord, row.ord) AS ord{olds} "
            f"SET n = row.props "
            f"SET n.embedding = coalesce(row.embedding, old_emb), n._ord = ord, "
            f"n.created_at = coalesce(old_created, row.created_at), n._acc = $acc{sums}")


def upsert_edges(rel: str, acc: Sequence[str]) -> str:
    """MERGE a batch of edge rows of one type between existing nodes; returns how many."""
    olds, sums = accumulate_fragments("r", acc)
    return (f"UNWIND $rows AS row MATCH (a:{NODE_LABEL} {{uid: row.s}}) "
            f"MATCH (b:{NODE_LABEL} {{uid: row.d}}) "
            f"MERGE (a)-[r:{rel} {{key: row.key}}]->(b) ON CREATE SET r._new = true "
            f"WITH r, row, r._new IS NOT NULL AS fresh{olds} "
            f"SET r = row.props SET r._acc = $acc{sums} RETURN count(r) AS n")


DELETE_NODES = (f"MATCH (n:{NODE_LABEL}) WHERE n.uid IN $uids DETACH DELETE n "
                f"RETURN count(*) AS n")


def edge_match(rel: str | None, by_src: bool, by_dst: bool) -> str:
    """MATCH for edges of a type (any type when None), from $s and/or to $d, else by $ns."""
    conds = ["a.uid = $s" if by_src else "a.namespace = $ns"]
    if by_dst:
        conds.append("b.uid = $d")
    typ = f":{rel}" if rel else ""
    return f"MATCH (a:{NODE_LABEL})-[r{typ}]->(b:{NODE_LABEL}) WHERE " + " AND ".join(conds)


def delete_edges(rel: str | None, by_src: bool, by_dst: bool) -> str:
    return f"{edge_match(rel, by_src, by_dst)} DELETE r RETURN count(*) AS n"


def clear_edges(rel: str) -> str:
    return f"{edge_match(rel, False, False)} DELETE r"


def clear_label(label: str) -> str:
    return f"MATCH (n:{label} {{namespace: $ns}}) DETACH DELETE n"


BUMP_GENERATION = f"MERGE (g:{GEN_LABEL} {{uid: $ns}}) SET g.n = coalesce(g.n, 0) + 1"
CACHE_PUT = (f"UNWIND $rows AS row MERGE (c:{CACHE_LABEL} {{uid: row.uid}}) "
             f"SET c.model = row.model, c.hash = row.hash, c.vec = row.vec")
META_SET = (f"MERGE (m:{META_LABEL} {{uid: $uid}}) SET m.namespace = $ns, m.key = $key, "
            f"m.value = $value")

# ------------------------------------------------------------------ reads

GET_NODE = f"MATCH (n:{NODE_LABEL} {{uid: $uid}}) RETURN {node_columns('n', True)}"
GET_NODES = (f"MATCH (n:{NODE_LABEL}) WHERE n.uid IN $uids RETURN {node_columns()} "
             f"ORDER BY n._ord")
HAS_NODES = f"MATCH (n:{NODE_LABEL}) WHERE n.uid IN $uids RETURN n.id AS id"


def where_cypher(keys: Sequence[str], var: str = "n", prefix: str = "w") -> str:
    """` AND n.`k` = $w0 ...` over the top-level copies of props `keys`."""
    return "".join(f" AND {var}.{ident(top_name(k))} = ${prefix}{i}" for i, k in enumerate(keys))


def where_params(keys: Sequence[str], prefix: str = "w") -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(len(keys)))


def find_nodes(label: str | None, where: Sequence[str], limited: bool,
               with_embedding: bool) -> str:
    lbl = f"{NODE_LABEL}:{label}" if label is not None else NODE_LABEL
    q = (f"MATCH (n:{lbl}) WHERE n.namespace = $ns{where_cypher(where)} "
         f"RETURN {node_columns('n', with_embedding)} ORDER BY n._ord")
    return q + (" LIMIT $limit" if limited else "")


def edges(rel: str | None, by_src: bool, by_dst: bool) -> str:
    return (f"{edge_match(rel, by_src, by_dst)} RETURN {edge_columns()} "
            f"ORDER BY src, type, dst, key")


def neighbors(rel: str | None, direction: str) -> str:
    """Edges at $u with the node at their other end; `side` 0 = outgoing, 1 = incoming."""
    typ = f":{rel}" if rel else ""
    other = node_columns("b", prefix="n_")  # the neighbour, beside the edge columns
    parts = []
    if direction in ("out", "both"):
        parts.append(f"MATCH (a:{NODE_LABEL} {{uid: $u}})-[r{typ}]->(b:{NODE_LABEL}) "
                     f"RETURN 0 AS side, {edge_columns()}, {other}")
    if direction in ("in", "both"):
        parts.append(f"MATCH (b:{NODE_LABEL})-[r{typ}]->(a:{NODE_LABEL} {{uid: $u}}) "
                     f"RETURN 1 AS side, {edge_columns('b', 'r', 'a')}, {other}")
    return " UNION ALL ".join(parts)


def expand_hop(rel_types: Sequence[str]) -> str:
    """One hop of the decayed spread: every frontier node's weight * decay split evenly over
    its edge-neighbours (both directions, parallel edges counted), summed per neighbour."""
    types = "|".join(rel_types)
    return (f"UNWIND $f AS f MATCH (a:{NODE_LABEL} {{uid: f.uid}}) "
            f"OPTIONAL MATCH (a)-[:{types}]->(o:{NODE_LABEL}) WITH f, a, collect(o.id) AS outs "
            f"OPTIONAL MATCH (a)<-[:{types}]-(i:{NODE_LABEL}) WITH f, outs, collect(i.id) AS ins "
            f"WITH f, outs + ins AS nbrs WITH f, nbrs, size(nbrs) AS deg WHERE deg > 0 "
            f"UNWIND nbrs AS bid WITH bid, f.w * $decay / deg AS share "
            f"RETURN bid, sum(share) AS w")


def vector_query(where: Sequence[str]) -> str:
    """Top $fetch from the vector index, kept to this namespace (and filter), best $k."""
    # The index score for cosine is (1 + cos) / 2 on Neo4j and ArcadeDB alike.
    return (f"CALL db.index.vector.queryNodes($index, $fetch, $vec) YIELD node, score "
            f"WHERE node.namespace = $ns{where_cypher(where, var='node')} "
            f"RETURN {node_columns('node')}, 2.0 * score - 1.0 AS sim "
            f"ORDER BY sim DESC, node._ord LIMIT $k")


def vector_count(label: str) -> str:
    return f"MATCH (n:{label}) WHERE n.embedding IS NOT NULL RETURN count(n) AS c"


def vector_exact(label: str, where: Sequence[str], cosine: str) -> str:
    """Exact top $k by cosine, for servers without a vector index; `cosine` is the dialect's
    expression for the raw cosine of `n.embedding` and `$vec`."""
    return (f"MATCH (n:{NODE_LABEL}:{label}) WHERE n.namespace = $ns "
            f"AND n.embedding IS NOT NULL AND size(n.embedding) = size($vec){where_cypher(where)} "
            f"WITH n, {cosine} AS sim RETURN {node_columns('n')}, sim "
            f"ORDER BY sim DESC, n._ord LIMIT $k")


def _label_cond(by_label: bool) -> str:
    return " AND $label IN labels(node)" if by_label else ""


def text_fulltext(by_label: bool) -> str:
    return (f"CALL db.index.fulltext.queryNodes($index, $q) YIELD node, score "
            f"WHERE node.namespace = $ns{_label_cond(by_label)} "
            f"RETURN {node_columns('node')}, score ORDER BY score DESC, node._ord LIMIT $k")


def text_scan(by_label: bool) -> str:
    """No full-text index: score = how many of $terms the text contains."""
    return (f"MATCH (node:{NODE_LABEL}) WHERE node.namespace = $ns{_label_cond(by_label)} "
            f"WITH node, size([t IN $terms WHERE toLower(node.text) CONTAINS t]) AS score "
            f"WHERE score > 0 RETURN {node_columns('node')}, toFloat(score) AS score "
            f"ORDER BY score DESC, node._ord LIMIT $k")


COUNT_BY_LABEL = (f"MATCH (n:{NODE_LABEL} {{namespace: $ns}}) "
                  f"RETURN [l IN labels(n) WHERE l <> '{NODE_LABEL}'][0] AS label, "
                  f"count(*) AS c ORDER BY label")
COUNT_BY_TYPE = (f"MATCH (a:{NODE_LABEL} {{namespace: $ns}})-[r]->() "
                 f"RETURN type(r) AS t, count(*) AS c ORDER BY t")
CACHE_GET = f"MATCH (c:{CACHE_LABEL}) WHERE c.uid IN $uids RETURN c.hash AS h, c.vec AS v"
CACHE_ALL = f"MATCH (c:{CACHE_LABEL}) RETURN c.model AS m, c.hash AS h, c.vec AS v"
META_GET = f"MATCH (m:{META_LABEL} {{uid: $uid}}) RETURN m.value AS v"
META_ALL = (f"MATCH (m:{META_LABEL} {{namespace: $ns}}) RETURN m.key AS k, m.value AS v "
            f"ORDER BY k")
GENERATION = f"MATCH (g:{GEN_LABEL} {{uid: $ns}}) RETURN g.n AS n"

# ------------------------------------------------------------------ connecting

PING = "RETURN 1 AS ok"
PROBE_VECTOR = "CALL db.index.vector.queryNodes($i, 1, $v) YIELD node RETURN node LIMIT 1"
PROBE_FULLTEXT = "CALL db.index.fulltext.queryNodes($i, 'probe') YIELD node RETURN node LIMIT 1"
