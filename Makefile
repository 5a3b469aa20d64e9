# The README's two commands: `make course` (set up, open the course) and `make test` (set up, run every test).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: course test

$(VENV)/.installed: pyproject.toml
	@t=$$(date +%s); \
	$(PYTHON) -m venv $(VENV) && \
	{ $(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"; } && \
	$(BIN)/pip install -q -e ".[test]" && touch $@ && \
	echo "phase setup (venv + install): $$(( $$(date +%s) - t )) s"

course: $(VENV)/.installed
	$(BIN)/jupyter lab chapters/00_start_here.ipynb

test: $(VENV)/.installed
	@t=$$(date +%s); \
	SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/pytest tests solutions --nbval-lax --durations=15; rc=$$?; \
	echo "phase tests (unit + notebooks): $$(( $$(date +%s) - t )) s"; exit $$rc
