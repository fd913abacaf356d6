#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, lint and type-check, start the real
# Kafka + Elasticsearch (and Airflow inside the tests that need it), run pytest.
# Extra arguments go to pytest, to both parts (e.g. tests/unit, -k search, -x).
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

# Most tests spend their time waiting on the services, not computing: two at a time (pytest-
# xdist) fill the 2 cores. Each test has its own topics, groups and indices, so they share the
# stack; the few that stop its Kafka or Elasticsearch (marked exclusive) run alone after.
# A part with nothing selected in it (exit 5, e.g. under -k) is not a failure unless both are.
echo "== tests, two at a time"
shared=0
NEWSFLOW_TEST_PHASE=shared .venv/bin/pytest -ra -n 2 --dist loadgroup "$@" || shared=$?
echo "== tests that stop the stack's services, alone"
exclusive=0
NEWSFLOW_TEST_PHASE=exclusive .venv/bin/pytest -ra "$@" || exclusive=$?
if [ "$shared" = 5 ] && [ "$exclusive" = 5 ]; then exit 5; fi
for code in "$shared" "$exclusive"; do
    if [ "$code" != 0 ] && [ "$code" != 5 ]; then exit "$code"; fi
done
