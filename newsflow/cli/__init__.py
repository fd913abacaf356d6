"""The `newsflow` command line: one typer app (newsflow/cli/app.py), one module per command group.

The top of the layers: commands read the settings once (the app's callback) and call down into
the stages, the workers, enrichment and the local stack.
"""

from __future__ import annotations

import os
import sys

from consumers.stopping import EarlyStop

# A worker's SIGTERM or Ctrl-C from the first moment, before the imports below (a second or
# so): one that came while it was starting killed it with no line in its log (exit -15).
if sys.argv[1:2] == ["consume"]:
    EarlyStop().install()

# One worker per core is how newsflow scales out, so BLAS thread pools only oversubscribe the
# machine; set before anything imports numpy. An explicit setting by the user still wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Each module registers its commands on `app` when imported; in the order the data flows, so
# `newsflow --help` reads like the pipeline.
# isort: off
from newsflow.cli import stack  # noqa: E402,F401  stack up|down|status|logs
from newsflow.cli import produce  # noqa: E402,F401  produce
from newsflow.cli import cleaning  # noqa: E402,F401  clean, eval
from newsflow.cli import ingest  # noqa: E402,F401  consume, run, search, dlq
from newsflow.cli import crawl  # noqa: E402,F401  feeds, crawl
from newsflow.cli import status  # noqa: E402,F401  status, health
from newsflow.cli import enrich  # noqa: E402,F401  related, enrich, airflow up|down|status
from newsflow.cli import deploy  # noqa: E402,F401  init, es-users, ping
from newsflow.cli.app import app  # noqa: E402
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    app()
