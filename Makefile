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

# llama-cpp-python compiles llama.cpp (PyPI has no wheel; about 5 minutes on 2 cores). The native
# build crashes on CPUs with AMX, hence GGML_NATIVE=OFF; --no-cache-dir keeps pip from reusing a
# native build from its cache. `make CMAKE_ARGS=-DGGML_CUDA=on install` builds for a GPU.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)"
	CMAKE_ARGS="-DGGML_NATIVE=OFF $(CMAKE_ARGS)" $(PY) -m pip install -q --no-cache-dir "llama-cpp-python>=0.3.36"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: install
	rm -rf $(DEMO_WS)
	$(VENV)/bin/expert --workspace $(DEMO_WS) init
	$(VENV)/bin/expert --workspace $(DEMO_WS) ingest src/industry_expert/samples
	$(VENV)/bin/expert --workspace $(DEMO_WS) search -k 3 "What was Northwind's capital expenditure in fiscal 2023?"
	$(VENV)/bin/expert --workspace $(DEMO_WS) ask "What was Northwind's capital expenditure in fiscal 2023?"
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
