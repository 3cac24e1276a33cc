# The two fresh-machine commands (README): `make demo` runs tshub's main job, `make test` runs the quality gate and
# the test suite.
# Both create .venv and install what they need; torch is pinned to a range that the local CPU wheel satisfies.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# numba's compile cache (about 130 s of a cold test run) and mypy's (minutes cold: torch's stubs) outside the
# clone, so they survive a fresh clone at the same path (numba keys its cache by the source folder's path and
# checks each source file's content hash; mypy checks every file's hash). bench/numba_cache.sh measures numba's.
NUMBA_CACHE_DIR ?= $(HOME)/.cache/tshub/numba
MYPY_CACHE_DIR ?= $(HOME)/.cache/tshub/mypy
export NUMBA_CACHE_DIR MYPY_CACHE_DIR

.PHONY: install demo quality test bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0" || $(PY) -m pip install -q "torch>=2.4,<2.14"
	$(PY) -m pip install -q -e ".[dev,plot,server,ray]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m tshub demo

# The quality gate: lint (ruff: pyflakes, import order, bugbear, pyupgrade), formatting, types (mypy, pyproject).
quality: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The 25 slowest tests are listed at the end, so a CI log shows where the suite's time goes (target: 10 minutes).
test: quality browser
	$(PY) -m pytest -q -p no:cacheprovider --durations=25

# The web pages' browser test drives Debian's chromium; install it when it is missing and we can (root + apt-get).
# Never fails: without it the browser test skips and says why.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and chromium-driver for the browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
	      >/dev/null 2>&1 || echo "could not install chromium: the browser test will skip"; \
	  else echo "chromium is not installed (needs root and apt-get to install it): the browser test will skip"; fi; \
	fi

bench: $(STAMP)
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
