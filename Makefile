# Two commands matter: `make run` and `make test`. Everything else is a helper they use.
# Only a Python 3.11+ interpreter is assumed; uv is bootstrapped into .tools/ and installs the locked
# dependencies into .venv/ (never downloading an interpreter of its own).
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
MANAGE := $(VENV)/bin/python manage.py

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Use the system's CA store: on networks that re-sign TLS, uv's bundled roots fail with UnknownIssuer.
export UV_SYSTEM_CERTS := 1
PORT ?= 8000

.PHONY: install run manage test lint format bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

# Serves http://127.0.0.1:$(PORT) (8000 unless `make run PORT=8100`) on SQLite with tasks run in-process (no broker) and mail printed to the
# console, unless the environment (or a .env file you source) says otherwise. `manage.py clock` runs the
# periodic jobs (scheduled publishing, …) that Celery beat runs in production.
run: export DEBUG ?= true
run: export SITE_URL ?= http://127.0.0.1:$(PORT)
run: install
	$(MANAGE) migrate --noinput
	$(MANAGE) load_demo
	$(MANAGE) load_demo_subscribers
	$(MANAGE) load_demo_access
	@echo "mlmw: $$SITE_URL/  (admin: /admin/; demo users 'editor'/'editor' (Editors group) and 'admin'/'admin' (superuser))"
	@$(VENV)/bin/python -m mlmw.devserver $(PORT)

# Any manage.py command with the environment `make run` uses (DEBUG=true: its development key, SQLite
# db.sqlite3, tasks in-process, mail to the console), e.g. make manage ARGS="export_subscribers".
# Plain `manage.py` runs production settings, which need SECRET_KEY and the rest from the environment.
manage: export DEBUG ?= true
manage: install
	@$(MANAGE) $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install lint
	DJANGO_SETTINGS_MODULE=mlmw.test_settings $(MANAGE) makemigrations --check --dry-run
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: install
	$(VENV)/bin/python bench/diff_bench.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
