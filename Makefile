# rg4: `make demo` runs the pipeline end to end on phantom studies, `make test` runs the tests,
# `make lint` checks style and types. Each creates .venv when missing. The default torch pin is
# the CPU wheel this project is tested with; on a GPU machine install your CUDA build of torch
# into .venv first and keep it with `make test TORCH_SPEC=torch`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.rg4-installed

.PHONY: venv lint test test-fast demo ablation man bench clean-demo clean-ablation

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# Lint, format check and type check (CI runs it before the tests); config in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy rg4cli

# The whole suite, slow end-to-end tests included (what CI runs).
test: $(STAMP)
	$(BIN)/python -m pytest -q

# Everything but the few slow end-to-end tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The demo's two training chains (rewritten / raw reports) run side by side, one core each.
JOBS ?= 2
demo: $(STAMP)
	$(MAKE) -j$(JOBS) -f examples/demo.mk RG4="$(BIN)/rg4" PY="$(BIN)/python"

# The paper's Table-4 ablations (TLW, ATF vs interleaved), three seeds (docs/ablation.md).
ablation: $(STAMP)
	$(MAKE) -j$(JOBS) -f examples/ablation.mk RG4="$(BIN)/rg4" PY="$(BIN)/python"

man: $(STAMP)
	$(BIN)/python scripts/gen_man.py man

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-demo:
	rm -rf demo

clean-ablation:
	rm -rf ablation
