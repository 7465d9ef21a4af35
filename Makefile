# make run   – set up and run the product on its embedded defaults (SQLite, local files)
# make test  – set up and run the linters and the test suite
#              (on PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/webmail make test)
# make chaos – the fault harness at full size: real processes killed and stopped, every message counted
#              (make chaos-short: small versions; not part of make test; see docs/RELIABILITY.md)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format bench chaos chaos-short clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# axe-core for the browser tests' accessibility checks (package.json); skipped where npm is missing.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the accessibility checks will be skipped"; fi

install: $(VENV)/.installed node_modules/.installed

# The demo's mail host name: bounce notices come from MAILER-DAEMON@mail.demo.test (docs/BOUNCE-NOTICES.md).
run: export MAIL_HOSTNAME ?= mail.demo.test
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo $(if $(DEMO_PASSWORD),--password $(DEMO_PASSWORD))
	$(PY) manage.py rundev --host $(HOST) --port $(PORT)

test: install lint
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do $(PY) $$b; done || echo "no benchmarks yet"

chaos: install
	$(PY) -m chaos $(CHAOS_ARGS)

chaos-short: install
	$(PY) -m chaos --short $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache node_modules
