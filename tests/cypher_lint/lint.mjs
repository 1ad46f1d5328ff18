// Lint Cypher statements with Neo4j's own parser and linter (@neo4j-cypher/language-support).
//
// stdin: {"schema": <dbSchema>, "versions": ["CYPHER 5", ...],
//         "statements": [{"name", "cypher", "parameters": {name: value}}]}
// stdout: [{"name", "version", "diagnostics": [{"severity", "message", "line", "column", "text"}]}]
// With --reference NAME..., prints instead the signatures Neo4j's tooling ships for those
// procedures and functions (its test schema, dumped from a Neo4j server), to check ours against.
import { readFileSync } from 'node:fs';
import { lintCypherQuery, testData } from '@neo4j-cypher/language-support';

const SEVERITY = { 1: 'error', 2: 'warning', 3: 'information', 4: 'hint' };

if (process.argv[2] === '--reference') {
  const out = {};
  for (const version of ['CYPHER 5', 'CYPHER 25']) {
    out[version] = {};
    for (const name of process.argv.slice(3)) {
      const p = testData.mockSchema.procedures[version]?.[name];
      const f = testData.mockSchema.functions[version]?.[name];
      out[version][name] = p ? { kind: 'procedure', signature: p.signature }
        : f ? { kind: 'function', signature: f.signature } : null;
    }
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
}

const input = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const version of input.versions) {
  const schema = { ...input.schema, defaultLanguage: version };
  for (const { name, cypher, parameters } of input.statements) {
    const { diagnostics } = lintCypherQuery(cypher, { ...schema, parameters: parameters ?? {} },
      { consoleCommandsEnabled: false });
    results.push({
      name, version,
      diagnostics: diagnostics.map((d) => ({
        severity: SEVERITY[d.severity] ?? String(d.severity),
        message: d.message,
        line: d.range.start.line + 1,
        column: d.range.start.character + 1,
        text: cypher.slice(d.offsets.start, d.offsets.end),
      })),
    });
  }
}
process.stdout.write(JSON.stringify(results));
