# Fresh machine: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup system-deps demo test test-slow lint bench docs clean

setup: system-deps $(VENV)/.installed

# Mesa's EGL renders the synthetic data offscreen (no display, no GPU); Chromium and its driver load the viewer
# pages in the tests (tests/test_view.py). Installed from Debian when missing and we are root; otherwise say what
# to install.
SYSTEM_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 chromium chromium-driver
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "diffuhand: please install $$missing (Debian/Ubuntu packages) for the offscreen renderer and the viewer tests"; fi; \
	fi

$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "diffuhand needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/diffuhand demo --out diffuhand-out

test: setup
	$(BIN)/python -m pytest -q

# ruff, the version pinned in requirements/constraints.txt: lint and the formatter's check (CI runs it)
lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/bench_fk.py
	$(BIN)/python benchmarks/bench_ik.py
	$(BIN)/python benchmarks/bench_loader.py
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_speed.py
	$(BIN)/python benchmarks/bench_realworld_predict.py

# The documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link or docstring reference fails.
docs: setup
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) diffuhand-out .pytest_cache site
