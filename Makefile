# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Everything installs into .venv in the repository root.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of torch keeps a laptop install small; set TORCH=torch for the CUDA build.
TORCH ?= torch==2.13.0
DEMO_WS := .expert-demo

.PHONY: install demo test lint typecheck bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: install
	rm -rf $(DEMO_WS)
	$(VENV)/bin/expert --workspace $(DEMO_WS) init
	$(VENV)/bin/expert --workspace $(DEMO_WS) ingest src/industry_expert/samples
	$(VENV)/bin/expert --workspace $(DEMO_WS) search -k 3 "What was Northwind's capital expenditure in fiscal 2023?"
	$(VENV)/bin/expert --workspace $(DEMO_WS) status

test: install
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/mypy src
	$(VENV)/bin/python -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools

typecheck: install
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) $(DEMO_WS) .pytest_cache .mypy_cache .ruff_cache
