"""The registry of every statement the Neo4j store can send, for checking with Neo4j's tooling.

`statements()` calls the builders the store itself uses (`neo4j_cypher`, `dialect`) over every
shape they take (each label, relationship type, accumulate list, filter, direction, dialect),
adds the Cypher behind each view (`expgraph.viz.cypher_for`) and the README's recipes, and says
for each which server it is meant for: "neo4j" statements run on Neo4j 5.18+ (and, all but the
index DDL, on the Bolt-compatible server too); "arcadedb" ones are ArcadeDB-only and never
claimed as Neo4j. `db_schema()` is the `dbSchema` for `@neo4j-cypher/language-support`'s
`lintCypherQuery`: the project's labels, relationship types, property keys, and the Neo4j 5
procedures and functions it calls, with their signatures.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from expgraph.models import EMBEDDED_LABELS, NODE_MODELS, Label, Rel
from expgraph.store import neo4j_cypher as cy
from expgraph.store.dialect import (
    CACHE_LABEL,
    GEN_LABEL,
    META_LABEL,
    NODE_LABEL,
    ArcadeDialect,
    Dialect,
    common_schema,
)
from expgraph.store.neo4j_rows import RESERVED

NEO4J, ARCADEDB = "neo4j", "arcadedb"


@dataclass(frozen=True)
class Statement:
    name: str  # family[shape], e.g. "upsert_nodes[Skill, acc]"
    text: str
    params: tuple[str, ...] = ()  # the parameters it takes ($name)
    target: str = NEO4J  # NEO4J or ARCADEDB (ArcadeDB-only: not claimed as Neo4j)
    language: str = "cypher"  # "cypher", or "sql" (ArcadeDB's HTTP API)
    source: str = "store"  # store | schema | viz | readme


# Shapes the builders are called with. Accumulated names and filter keys are spliced into the
# Cypher as backticked identifiers; which names a caller uses does not change the grammar.
NODE_ACC = ("attempts", "successes")
EDGE_ACC = ("count", "successes", "errors")
WHERES: tuple[tuple[str, ...], ...] = ((), ("status",), ("tier", "status"), ("text",))
DIRECTIONS = ("out", "in", "both")

# Props that edges carry (nodes' props are their models' fields).
EDGE_PROPS = ("step", "order", "action", "name", "count", "successes", "errors", "helped")
# Properties the store itself keeps on its nodes: meta, embedding cache, write counter.
STORE_PROPS = ("created_at", "n", "model", "hash", "vec", "value")
# Keys of the row maps sent with UNWIND (`row.s`): the linter can't tell them from properties.
ROW_KEYS = ("s", "d", "ord", "props", "uid", "w")

# The Neo4j 5 procedures and functions the statements call, with their signatures as Neo4j
# 5 reports them (`SHOW PROCEDURES` / `SHOW FUNCTIONS`); the lint test checks them against
# the signatures Neo4j's own tooling ships.
PROCEDURES: dict[str, tuple[str, str]] = {  # name -> (mode, signature)
    "db.index.vector.queryNodes": (
        "READ", "db.index.vector.queryNodes(indexName :: STRING, numberOfNearestNeighbours :: "
                "INTEGER, query :: ANY) :: (node :: NODE, score :: FLOAT)"),
    "db.index.fulltext.queryNodes": (
        "READ", "db.index.fulltext.queryNodes(indexName :: STRING, queryString :: STRING, "
                "options = {} :: MAP) :: (node :: NODE, score :: FLOAT)"),
    "db.awaitIndexes": ("READ", "db.awaitIndexes(timeOutSeconds = 300 :: INTEGER)"),
}
FUNCTIONS: dict[str, tuple[str, str]] = {  # name -> (category, signature)
    "coalesce": ("Scalar", "coalesce(input :: ANY) :: ANY"),
    "count": ("Aggregating", "count(input :: ANY) :: INTEGER"),
    "collect": ("Aggregating", "collect(input :: ANY) :: LIST<ANY>"),
    "sum": ("Aggregating", "sum(input :: INTEGER | FLOAT | DURATION) :: INTEGER | FLOAT | "
                           "DURATION"),
    "size": ("Scalar", "size(input :: STRING | LIST<ANY>) :: INTEGER"),
    "labels": ("List", "labels(input :: NODE) :: LIST<STRING>"),
    "type": ("Scalar", "type(input :: RELATIONSHIP) :: STRING"),
    "nodes": ("List", "nodes(input :: PATH) :: LIST<NODE>"),
    "length": ("Scalar", "length(input :: PATH) :: INTEGER"),
    "toLower": ("String", "toLower(input :: STRING) :: STRING"),
    "toFloat": ("Scalar", "toFloat(input :: STRING | INTEGER | FLOAT) :: FLOAT"),
    "toInteger": ("Scalar", "toInteger(input :: BOOLEAN | STRING | INTEGER | FLOAT) :: INTEGER"),
    "vector.similarity.cosine": (
        "Vector", "vector.similarity.cosine(a :: LIST<INTEGER | FLOAT>, b :: LIST<INTEGER | "
                  "FLOAT>) :: FLOAT"),
}

# Cypher for Neo4j Browser, printed in the README ("Cypher recipes"); a test checks that the
# README's cypher blocks are exactly these.
RECIPES: dict[str, str] = {
    "active_functional_skills": """\
MATCH (s:Skill {namespace: 'default', tier: 'functional', status: 'active'})
RETURN s.name, s.utility, s.support, s.actions
ORDER BY s.utility DESC LIMIT 25""",
    "guardrails_for_state": """\
MATCH (st:State {namespace: 'default'}) WHERE st.id = $stateId
MATCH (g:Guardrail)-[:GUARDS]->(st)
OPTIONAL MATCH (g)-[:PREVENTS]->(f:Failure)
RETURN g.rule, g.forbidden, g.severity, g.utility, collect(f.symptom) AS prevents
ORDER BY g.severity DESC""",
    "states_by_text": """\
CALL db.index.fulltext.queryNodes('expgraph_text', 'checkout AND cart') YIELD node, score
WHERE node:State AND node.namespace = 'default'
RETURN node.id, node.text, score LIMIT 10""",
    "episode_path": """\
MATCH (e:Episode {namespace: 'default', seq: 12})-[v:VISITS]->(s:State)
RETURN toInteger(v.key) AS step, s.text AS state ORDER BY step""",
    "episode_path_drawn": """\
MATCH p = (e:Episode {namespace: 'default', seq: 12})
          -[:VISITS]->(:State)-[:TRANSITION*0..1]->(:State)
RETURN p""",
    "skills_of_episode": """\
MATCH (k:Skill)-[:DERIVED_FROM]->(e:Episode {namespace: 'default', seq: 12})
OPTIONAL MATCH (k)-[:APPLIES_IN]->(s:State)
RETURN k.tier, k.name, collect(s.text)[..3] AS applies_in""",
}


def parameters(text: str) -> tuple[str, ...]:
    """The `$name` parameters a statement uses, in order of first use."""
    return tuple(dict.fromkeys(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text)))


def _where_params(where: tuple[str, ...]) -> tuple[str, ...]:
    return cy.where_params(where)


def _store(dims: int) -> Iterator[Statement]:
    """Each family over every label / relationship type and every combination of options."""
    for label in Label:
        for acc in ((), NODE_ACC):
            yield Statement(f"upsert_nodes[{label.value}{', acc' if acc else ''}]",
                            cy.upsert_nodes(label.value, acc), ("rows", "acc"))
        yield Statement(f"clear_label[{label.value}]", cy.clear_label(label.value), ("ns",))
    for rel in Rel:
        for acc in ((), EDGE_ACC):
            yield Statement(f"upsert_edges[{rel.value}{', acc' if acc else ''}]",
                            cy.upsert_edges(rel.value, acc), ("rows", "acc"))
        yield Statement(f"clear_edges[{rel.value}]", cy.clear_edges(rel.value), ("ns",))
    some_label = Label.SKILL.value  # the filter variants of the exact scan
    for rel in [None, *(r.value for r in Rel)]:
        for by_src in (False, True):
            for by_dst in (False, True):
                p = ("s",) if by_src else ("ns",)
                p += ("d",) if by_dst else ()
                shape = f"{rel or '*'}, src={by_src}, dst={by_dst}"
                yield Statement(f"delete_edges[{shape}]", cy.delete_edges(rel, by_src, by_dst), p)
                yield Statement(f"edges[{shape}]", cy.edges(rel, by_src, by_dst), p)
        for direction in DIRECTIONS:
            yield Statement(f"neighbors[{rel or '*'}, {direction}]",
                            cy.neighbors(rel, direction), ("u",))
    for label in [None, *(lb.value for lb in Label)]:
        for where in WHERES:
            for limited in (False, True):
                for emb in (False, True):
                    yield Statement(
                        f"find_nodes[{label or '*'}, where={','.join(where)}, limit={limited}, "
                        f"embedding={emb}]", cy.find_nodes(label, where, limited, emb),
                        ("ns", *_where_params(where), *(("limit",) if limited else ())))
    yield Statement("expand_hop[all]", cy.expand_hop([r.value for r in Rel]), ("f", "decay"))
    for rel in Rel:
        yield Statement(f"expand_hop[{rel.value}]", cy.expand_hop([rel.value]), ("f", "decay"))
    for where in WHERES:
        yield Statement(f"vector_query[where={','.join(where)}]", cy.vector_query(where),
                        ("index", "fetch", "vec", "ns", *_where_params(where), "k"))
    for dialect, target in ((Dialect(), NEO4J), (ArcadeDialect(), ARCADEDB)):
        for label in EMBEDDED_LABELS:
            for where in WHERES:
                if label.value != some_label and where:
                    continue
                yield Statement(
                    f"vector_exact[{dialect.name}, {label.value}, where={','.join(where)}]",
                    cy.vector_exact(label.value, where, dialect.cosine("n.embedding", "$vec")),
                    ("ns", "vec", *_where_params(where), "k"), target)
    for label in EMBEDDED_LABELS:
        yield Statement(f"vector_count[{label.value}]", cy.vector_count(label.value))
    for by_label in (False, True):
        lp = ("label",) if by_label else ()
        yield Statement(f"text_fulltext[label={by_label}]", cy.text_fulltext(by_label),
                        ("index", "q", "ns", *lp, "k"))
        yield Statement(f"text_scan[label={by_label}]", cy.text_scan(by_label),
                        ("ns", *lp, "terms", "k"))
    for name in ("DELETE_NODES", "BUMP_GENERATION", "CACHE_PUT", "META_SET", "GET_NODE",
                 "GET_NODES", "HAS_NODES", "COUNT_BY_LABEL", "COUNT_BY_TYPE", "CACHE_GET",
                 "CACHE_ALL", "META_GET", "META_ALL", "GENERATION", "PING", "PROBE_VECTOR",
                 "PROBE_FULLTEXT"):
        text = getattr(cy, name)
        yield Statement(name.lower(), text, parameters(text))


def _schema(dims: int) -> Iterator[Statement]:
    for i, stmt in enumerate(common_schema()):
        yield Statement(f"schema[{i}]", stmt, source="schema")
    for what, stmt in Dialect().search_index_ddl(dims):
        yield Statement(f"search_index[neo4j, {what}]", stmt, source="schema")
    for i, stmt in enumerate(ArcadeDialect().search_index_sql(dims)):
        yield Statement(f"search_index[arcadedb, {i}]", stmt, target=ARCADEDB, language="sql",
                        source="schema")


def _views() -> Iterator[Statement]:
    from expgraph.viz.cypher import CYPHER

    for view, text in CYPHER.items():
        yield Statement(f"view[{view}]", text, parameters(text), source="viz")


def _recipes() -> Iterator[Statement]:
    for name, text in RECIPES.items():
        yield Statement(f"recipe[{name}]", text, parameters(text), source="readme")


def statements(dims: int = 384) -> list[Statement]:
    """Every statement, named uniquely; `dims` is the vector index size baked into the DDL."""
    out = [*_store(dims), *_schema(dims), *_views(), *_recipes()]
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise AssertionError(f"statement names must be unique: {dupes}")
    return out


def property_keys() -> list[str]:
    """Every property key a statement may name: the store's own, each node model's fields,
    the edges' props and the renamed copies of reserved names."""
    keys = set(RESERVED) | set(STORE_PROPS) | set(EDGE_PROPS) | set(ROW_KEYS)
    keys |= {f"prop_{k}" for k in RESERVED}
    for model in NODE_MODELS.values():
        keys |= set(model.model_fields)
    return sorted(keys)


def _fields(spec: str) -> list[dict[str, Any]]:
    """`a :: T, b = d :: T` as language-support describes arguments and yielded fields."""
    args = []
    for part in filter(None, (p.strip() for p in spec.split(", "))):
        head, typ = part.split(" :: ", 1)
        name, _, default = head.partition(" = ")
        arg: dict[str, Any] = {"name": name.strip(), "type": typ, "description": name.strip(),
                               "isDeprecated": False}
        if default:
            arg["default"] = default
        args.append(arg)
    return args


def _signature_parts(signature: str) -> tuple[str, str]:
    """(arguments, result) of `name(args) :: result`; a procedure's result is `(fields)`."""
    inner = signature[signature.index("(") + 1:]
    depth, end = 1, 0
    while depth and end < len(inner):
        depth += {"(": 1, ")": -1}.get(inner[end], 0)
        end += 1
    end -= 1  # the closing parenthesis
    result = inner[end + 1:].removeprefix(" :: ").strip()
    return inner[:end], result


def db_schema() -> dict[str, Any]:
    """The `dbSchema` for `lintCypherQuery` (parameters are added per statement)."""
    procs = {name: {
        "name": name, "description": name, "mode": mode, "worksOnSystem": False,
        "argumentDescription": _fields(_signature_parts(sig)[0]),
        "returnDescription": _fields(_signature_parts(sig)[1].strip("()")),
        "signature": sig, "admin": False, "option": {"deprecated": False},
    } for name, (mode, sig) in PROCEDURES.items()}
    funcs = {name: {
        "name": name, "category": cat, "description": name, "isBuiltIn": True,
        "argumentDescription": _fields(_signature_parts(sig)[0]),
        "returnDescription": _signature_parts(sig)[1],
        "signature": sig, "aggregating": cat == "Aggregating", "isDeprecated": False,
    } for name, (cat, sig) in FUNCTIONS.items()}
    return {
        "labels": sorted([*(lb.value for lb in Label), NODE_LABEL, META_LABEL, CACHE_LABEL,
                          GEN_LABEL]),
        "relationshipTypes": sorted(r.value for r in Rel),
        "propertyKeys": property_keys(),
        "procedures": {"CYPHER 5": procs, "CYPHER 25": procs},
        "functions": {"CYPHER 5": funcs, "CYPHER 25": funcs},
    }


def ddl_script(dims: int = 384) -> str:
    """The schema a DBA can run by hand on Neo4j (what `connect` runs, `IF NOT EXISTS`)."""
    stmts = [*common_schema(), *(t for _, t in Dialect().search_index_ddl(dims))]
    return "\n".join(f"{s};" for s in stmts)


if __name__ == "__main__":  # python -m expgraph.store.neo4j_registry [DIMS]: print the DDL
    import sys

    print(ddl_script(int(sys.argv[1]) if len(sys.argv) > 1 else 384))
