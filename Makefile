# case-triage: `make run` serves, `make test` runs the whole suite, `make check` the fast loop.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check test-postgres stress install tools lint clean bootstrap screenshots

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,dask]'
	@touch $(STAMP)

# Default models when none are registered, and on an empty database a day of simulated open
# orders with their suggested cases (GET /v1/suggestions shows them at once).
bootstrap: install
	$(BIN)/triage bootstrap --demo-orders

# Serve the HTTP API under gunicorn in the foreground (TRIAGE_HOST, TRIAGE_PORT, TRIAGE_WORKERS;
# default 127.0.0.1:8000, 2 workers). The first start creates a local admin API key and prints it
# with a curl example.
run: bootstrap
	$(BIN)/triage serve --create-admin-key

# Programs the tests need that pip cannot install, as "command:Debian package" pairs: wrk loads
# the server in the soak test; initdb (Debian keeps it in /usr/lib/postgresql/*/bin) starts the
# throwaway PostgreSQL cluster of the database tests. When one is missing, root installs it with
# apt (one `apt-get update` first); anyone else is told, and the tests that need it skip (CI,
# where such a skip fails the run, runs as root). chromium: the console's browser tests
# (tests/system/test_console_browser.py) and `make screenshots`.
TOOLS := wrk:wrk initdb:postgresql chromium:chromium

tools:
	@missing=""; for pair in $(TOOLS); do \
	  cmd="$${pair%%:*}"; \
	  command -v "$$cmd" >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/"$$cmd" >/dev/null 2>&1 \
	    || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing$$missing (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	else \
	  echo "missing$$missing: install with apt-get install$$missing (as root); the tests that need them skip"; \
	fi

# pytest-xdist: one test process per core, at most 4 (each builds its own tiny models, servers
# and PostgreSQL cluster); tests marked xdist_group share a process (the console's browser
# tests: one server and one Chromium for the module)
PARALLEL := -n auto --maxprocesses=4 --dist loadgroup

# The whole suite (what CI runs through .ci/run), with the 25 slowest tests listed.
test: install tools
	$(BIN)/python -m pytest $(PARALLEL) --durations=25

# The database tests (store, migrations, API, faults, concurrency, rate limits) against a
# throwaway PostgreSQL cluster alone; make test runs them against SQLite and PostgreSQL.
test-postgres: install tools
	$(BIN)/python -m pytest $(PARALLEL) -m postgres --durations=10

# The fast development loop: unit, API through the test client and CLI tests; nothing under
# tests/system/ (real servers, killed processes, soak, notebooks), nothing marked slow, and the
# database tests on SQLite only (make test-postgres runs their PostgreSQL half).
check: install
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow and not postgres" --durations=10

# Every test that starts a process or uses threads (tests/system/ but the soak, database faults,
# concurrent writers, hot reload), ROUNDS times (20) while a busy loop per core keeps the CPU
# full; lists each failure and its count (log in var/stress.log). A round takes 7 minutes on an
# idle 2-core machine, up to 30 beside other work: 20 rounds need a machine of their own.
ROUNDS ?= 20
stress: install tools
	$(BIN)/python -m tests.stress --rounds $(ROUNDS)

# The console's screenshots in docs/console/ (PNG, committed), taken by the browser test module
# in Debian's Chromium against a real server with demo data (about a minute); a Chinese font
# (Debian's fonts-wqy-microhei, installed by root when missing) so that the zh texts render.
screenshots: install tools
	@test -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || { [ "$$(id -u)" = 0 ] \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; } \
	  || echo "no Chinese font: install fonts-wqy-microhei (as root) or the zh texts show as boxes"
	TRIAGE_SCREENSHOTS=docs/console $(BIN)/python -m pytest -p no:cacheprovider -q \
	  tests/system/test_console_browser.py -k screenshots

# ruff, and the import-linter contracts of pyproject.toml (the test suite runs them too:
# tests/test_architecture.py)
lint: install
	$(BIN)/ruff check triage api tests benchmarks
	$(BIN)/lint-imports --no-logo

clean:
	rm -rf $(VENV) build *.egg-info
