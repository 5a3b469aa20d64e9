# The README's two commands: `make course` (set up, open the course) and `make test` (set up, run every test).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: course test test-fast lint chromium site test-site

$(VENV)/.installed: pyproject.toml
	@t=$$(date +%s); \
	$(PYTHON) -m venv $(VENV) && \
	{ $(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"; } && \
	$(BIN)/pip install -q -e ".[test]" && touch $@ && \
	echo "phase setup (venv + install): $$(( $$(date +%s) - t )) s"

course: $(VENV)/.installed
	$(BIN)/jupyter lab chapters/00_start_here.ipynb

# tests/test_browser.py drives Debian's Chromium (never a downloaded one). As root with apt, install it
# (bounded); elsewhere say how, and that test is skipped.
chromium:
	@command -v chromium >/dev/null || { \
	  t=$$(date +%s); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    install="DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium"; \
	    timeout 600 sh -c "$$install || { apt-get update -qq && $$install; }" >/dev/null \
	      || echo "could not install chromium: tests/test_browser.py will be skipped"; \
	  else echo "no chromium (install it: apt-get install chromium): tests/test_browser.py will be skipped"; fi; \
	  echo "phase setup (chromium): $$(( $$(date +%s) - t )) s"; }

test: $(VENV)/.installed chromium
	@t=$$(date +%s); \
	SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/pytest tests solutions --nbval-lax --durations=15; rc=$$?; \
	echo "phase tests (unit + notebooks): $$(( $$(date +%s) - t )) s"; exit $$rc

# Unit tests only: no notebook, no browser, nothing marked slow (< 1 min).
test-fast: $(VENV)/.installed
	SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/pytest tests -q -m "not notebook and not browser and not slow"

# Lint (ruff's rules in pyproject.toml) and formatting; .ci/run runs this before the tests.
lint: $(VENV)/.installed
	$(BIN)/ruff check utils tests course
	$(BIN)/ruff format --check utils tests

# The course site in _site/ (utils/sinklab/site.py: Sphinx, MyST-NB, the book theme; offline), from the notebooks
# the test run executed and kept in artifacts/executed/. On a fresh clone, with none kept yet, it runs them once
# (the notebook part of `make test`); it never executes a notebook that a test run already did.
$(VENV)/.site-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e ".[test,site]" && touch $@

site: $(VENV)/.site-installed
	@ls artifacts/executed/solutions/*.ipynb >/dev/null 2>&1 || { \
	  echo "no executed notebooks in artifacts/executed/solutions/: running the solution notebooks once"; \
	  SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/pytest solutions --nbval-lax -q -p no:cacheprovider; }
	@t=$$(date +%s); \
	SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/python -m sinklab.site; rc=$$?; \
	echo "phase site (build): $$(( $$(date +%s) - t )) s"; exit $$rc

# The site in headless Chromium, offline: every chapter page draws as many charts as its notebook has.
test-site: site chromium
	@t=$$(date +%s); \
	SINKLAB_PROFILE=ci HF_HUB_OFFLINE=1 $(BIN)/pytest tests/test_site.py -q; rc=$$?; \
	echo "phase site (browser test): $$(( $$(date +%s) - t )) s"; exit $$rc
