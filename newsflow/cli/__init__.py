"""The `newsflow` command line: one typer app, one module per command group."""

from __future__ import annotations

import os

# One worker per core is how newsflow scales out, so BLAS thread pools only oversubscribe the
# machine; set before anything imports numpy. An explicit setting by the user still wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import importlib  # noqa: E402
import logging  # noqa: E402

import typer  # noqa: E402

app = typer.Typer(
    name="newsflow",
    help="Event-driven news ingestion: produce, clean, tag, index and search news articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module registers its commands on `app` when imported. Listed here, in the order the
# data flows, so `newsflow --help` reads like the pipeline.
_COMMAND_MODULES = [
    "newsflow.cli.stack",  # stack up|down|status|logs
    "newsflow.cli.produce",  # produce
    "newsflow.cli.cleaning",  # clean, eval
    "newsflow.cli.ingest",  # consume, run, search, dlq
    "newsflow.cli.status",  # status, health
    "newsflow.cli.enrich",  # related, airflow up|down
    "newsflow.cli.deploy",  # init (topics, index template, Kibana objects)
]


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kafka-python logs every reconnect at INFO; that is noise for a CLI user.
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)


def _register() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency inside the module: say so
                raise


_register()


def main() -> None:
    app()
