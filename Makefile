# Two commands on a fresh machine: `make demo` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: here it resolves to the local CPU build (no CUDA download).
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	rm -f demo.db demo.db-wal demo.db-shm
	$(BIN)/python examples/demo.py --db demo.db

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check expgraph ingestion queries tests bench

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/distill.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/next_action.py
	$(BIN)/python bench/query_latency.py
	$(BIN)/python bench/backends.py

clean:
	rm -rf $(VENV) *.egg-info demo.db* .pytest_cache
