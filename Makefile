# The README's two commands: `make course` (set up, open the course) and `make test` (set up, run every test).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: course test test-fast lint chromium site test-site rehearse rehearse-ci

$(VENV)/.installed: pyproject.toml
	@t=$$(date +%s); \
	$(PYTHON) -m venv $(VENV) && \
	{ $(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"; } && \
	$(BIN)/pip install -q -e ".[course,test,site]" && touch $@ && \
	echo "phase setup (venv + install): $$(( $$(date +%s) - t )) s"

course: $(VENV)/.installed
	$(BIN)/jupyter lab chapters/00_start_here.ipynb

# tests/notebooks/test_browser.py drives Debian's Chromium (never a downloaded one). As root with apt, install it
# (bounded); elsewhere say how, and that test is skipped.
chromium:
	@command -v chromium >/dev/null || { \
	  t=$$(date +%s); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    install="DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium"; \
	    timeout 600 sh -c "$$install || { apt-get update -qq && $$install; }" >/dev/null \
	      || echo "could not install chromium: tests/notebooks/test_browser.py will be skipped"; \
	  else echo "no chromium (install it: apt-get install chromium): tests/notebooks/test_browser.py will be skipped"; fi; \
	  echo "phase setup (chromium): $$(( $$(date +%s) - t )) s"; }

# Phase 1, in parallel (one worker per core, at most 4; a notebook's cells stay on one worker): unit tests and
# every solution notebook under nbval, each notebook executed once and kept in artifacts/executed/ (conftest.py).
# Phase 2: what reads those executions (stored outputs, chapter 2 in JupyterLab, the site build and its browser test).
JOBS ?= auto
test: $(VENV)/.installed chromium
	@t=$$(date +%s); export SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1; \
	$(BIN)/pytest tests solutions --nbval-lax -n $(JOBS) --maxprocesses 4 --dist loadfile -m "not executed and not rehearsal" \
	  --durations=15; rc=$$?; \
	echo "phase tests (unit + notebooks): $$(( $$(date +%s) - t )) s"; [ $$rc = 0 ] || exit $$rc; \
	t=$$(date +%s); $(BIN)/pytest tests -m executed --durations=5; rc=$$?; \
	echo "phase tests (stored outputs, site): $$(( $$(date +%s) - t )) s"; exit $$rc

# The cpu rehearsal at CI scale (stand-ins of <= 2 layers, a quarter of the samples and steps): every chapter.
rehearse-ci: $(VENV)/.installed
	SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/pytest tests/notebooks/test_rehearsal_cpu.py -m rehearsal -s

# Unit tests only: no notebook, no browser, nothing marked slow (< 1 min).
test-fast: $(VENV)/.installed
	SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/pytest tests -q -n $(JOBS) --maxprocesses 4 \
	  -m "not notebook and not browser and not slow and not executed"

# Lint (ruff's rules in pyproject.toml) and formatting; .ci/run runs this before the tests.
lint: $(VENV)/.installed
	$(BIN)/ruff check utils tests course
	$(BIN)/ruff format --check utils tests

# The course site in _site/ (utils/sinklab/site.py: Sphinx, MyST-NB, the book theme; offline), from the notebooks
# the test run executed and kept in artifacts/executed/. On a fresh clone, with none kept yet, it runs them once
# (the notebook part of `make test`); it never executes a notebook that a test run already did.
site: $(VENV)/.installed
	@ls artifacts/executed/solutions/*.ipynb >/dev/null 2>&1 || { \
	  echo "no executed notebooks in artifacts/executed/solutions/: running the solution notebooks once"; \
	  SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/pytest solutions --nbval-lax -q -p no:cacheprovider; }
	@t=$$(date +%s); \
	SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/python -m sinklab.course.site; rc=$$?; \
	echo "phase site (build): $$(( $$(date +%s) - t )) s"; exit $$rc

# The site in headless Chromium, offline: every chapter page draws as many charts as its notebook has.
test-site: site chromium
	@t=$$(date +%s); \
	SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/pytest tests/notebooks/test_site.py -q; rc=$$?; \
	echo "phase site (browser test): $$(( $$(date +%s) - t )) s"; exit $$rc

# Rehearse a learner's profile offline on stand-ins (random weights of the real architectures, built once into
# ~/.cache/sinklab/stand-ins): `make rehearse PROFILE=cpu` (or t4, a100; CHAPTERS="0 2", LAYERS=2, SCALE=0.25).
PROFILE ?= cpu
GENUINE_CACHE ?= $(wildcard ../shared/hf-cache)
rehearse: $(VENV)/.installed
	$(BIN)/sinklab rehearse --profile $(PROFILE) $(if $(CHAPTERS),--chapters $(CHAPTERS)) \
	  $(if $(LAYERS),--layers $(LAYERS)) $(if $(SCALE),--scale $(SCALE)) \
	  $(if $(GENUINE_CACHE),--genuine-cache $(GENUINE_CACHE))
