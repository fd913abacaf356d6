#!/usr/bin/env bash
# The main job on a fresh machine: install, start Kafka + Elasticsearch, ingest seeds/, search.
# Extra arguments go to `newsflow run` (e.g. other paths, or --query "steel").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/newsflow stack up
exec .venv/bin/newsflow run "$@"
