"""The one typer app that every command module registers on, and the settings it reads once."""

from __future__ import annotations

import logging

import typer

from newsflow.settings import Settings

app = typer.Typer(
    name="newsflow",
    help="Event-driven news ingestion: produce, clean, tag, index and search news articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kafka-python logs every reconnect at INFO; that is noise for a CLI user.
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    # The one place the command line reads its configuration; commands take it from here.
    ctx.obj = Settings()


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the app read for this invocation (subcommand contexts inherit them)."""
    settings = ctx.obj
    if not isinstance(settings, Settings):
        raise RuntimeError("a newsflow command ran without the app's callback")
    return settings
