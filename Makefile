# Two commands on a fresh machine: `make demo` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo agent-loop test lint bench closed-loop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: here it resolves to the local CPU build (no CUDA download).
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# The notebooks' kernel, "Python (expgraph)": this venv's interpreter, found by any Jupyter
	# started from the venv and by the notebook tests.
	$(BIN)/python -m ipykernel install --sys-prefix --name expgraph --display-name "Python (expgraph)"
	touch $(STAMP)

install: $(STAMP)

# Neo4j's Cypher linter for tests/test_cypher_lint.py (pinned in its package-lock.json).
CYPHER_LINT := tests/cypher_lint/node_modules/.package-lock.json
$(CYPHER_LINT): tests/cypher_lint/package.json tests/cypher_lint/package-lock.json
	cd tests/cypher_lint && npm ci --no-audit --no-fund --loglevel=error

# The bench extra: ScienceWorld for the closed-loop benchmark (needs Java 17 on the machine).
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(BENCH_STAMP)

demo: install
	rm -f demo.db demo.db-wal demo.db-shm
	$(BIN)/python examples/demo.py --db demo.db

agent-loop: install
	$(BIN)/python examples/agent_loop.py

test: install $(CYPHER_LINT)
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check expgraph ingestion queries tests bench

bench: $(BENCH_STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/distill.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/next_action.py
	$(BIN)/python bench/query_latency.py
	$(BIN)/python bench/ann_compare.py
	$(BIN)/python bench/embed_backends.py
	$(BIN)/python bench/peers.py
	$(BIN)/python bench/backends.py
	$(BIN)/python bench/reliability.py
	$(BIN)/python bench/closed_loop.py

closed-loop: $(BENCH_STAMP)
	$(BIN)/python bench/closed_loop.py

clean:
	rm -rf $(VENV) *.egg-info demo.db* .pytest_cache notebooks/*-figures tests/cypher_lint/node_modules
