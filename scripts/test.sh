#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, lint and type-check, start the real
# Kafka + Elasticsearch (and Airflow inside the tests that need it), run pytest.
# Extra arguments go to pytest (e.g. tests/unit, -k search, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

echo "== lint (ruff), types (mypy) and the layers' import contract (lint-imports, .importlinter)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports

echo "== dependency audit (pip-audit over constraints.txt, scripts/audit.sh)"
bash scripts/audit.sh

# Stop the stack afterwards only if this run started it; a developer's running stack stays.
started_here=0
if ! .venv/bin/newsflow stack status >/dev/null 2>&1; then started_here=1; fi
cleanup() { if [ "$started_here" = 1 ]; then .venv/bin/newsflow stack down >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT
echo "== stack"
.venv/bin/newsflow stack up

echo "== tests"
.venv/bin/pytest -ra "$@"
