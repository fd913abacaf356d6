"""The one typer app that every command module registers on, and the settings it reads once."""

from __future__ import annotations

import logging
import re
from typing import Any, cast

import typer
from typer.core import TyperArgument, TyperOption

from newsflow import redaction
from newsflow.cli.errors import NewsflowGroup
from newsflow.settings import Settings
from newsflow.stack.secrets import stack_secrets

#: How typer 0.29 shows the type of a list parameter: Python's spelling of the annotation.
_LIST_TYPE = re.compile(r"^<list\[(.*)\]>$")


def _readable_types(kind: type[TyperOption] | type[TyperArgument]) -> None:
    """typer 0.29 shows a parameter's type as Python spells it: every flag as `--verbose
    <bool>`, as if it took a value, and a list as `<list[str]>` or `--stage
    <list[cluster|embed|rollup|trends]>`. A flag's line shows no type, a list the type of
    one value (`<str>...` for arguments; an option's help says it may be repeated).
    Checked by tests/unit/test_cli_help.py, so an upgrade that changes the method is noticed.
    """
    display = getattr(kind, "display_type_rich", None)
    if not callable(display):
        return

    def display_type_rich(self: TyperOption | TyperArgument, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None
        shown = cast(str | None, display(self, ctx))
        found = _LIST_TYPE.match(shown or "")
        if found is None:
            return shown
        # Arguments: `PATH <str>...`. An option that may be repeated takes one value each
        # time: `--stage <cluster|embed>...` would read as `--stage cluster embed`.
        several = "..." if isinstance(self, TyperArgument) else ""
        return f"<{found.group(1)}>{several}"

    kind.display_type_rich = display_type_rich  # type: ignore[method-assign]


_readable_types(TyperOption)
_readable_types(TyperArgument)

app = typer.Typer(
    name="newsflow",
    # Reports any failure of a command in one line (the traceback only with -v).
    cls=NewsflowGroup,
    help="Event-driven news ingestion: produce, clean, tag, index and search news articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Docstrings are wrapped at the source's line length: in markdown mode their paragraphs
    # reflow to the terminal (typer's "rich" mode kept every source line break).
    rich_markup_mode="markdown",
)


class LogFormatter(logging.Formatter):
    """Log lines with time, level and logger; tracebacks only when asked for (``-v``)."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if not self.tracebacks and (record.exc_info or record.exc_text or record.stack_info):
            # A copy: other handlers (a worker's log file) may still want the traceback.
            record = logging.makeLogRecord(record.__dict__)
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return super().format(record)


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details."),
) -> None:
    # Before anything can log or print: no secret of the settings leaves the process, in
    # our lines or a library's (kafka-python logs its whole configuration at DEBUG).
    redaction.install(redaction.Redactor())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(LogFormatter(tracebacks=verbose))
    # kafka-python logs every reconnect (and every refused login) as errors, the ES client
    # every retry as a warning; that is noise for a CLI user, who gets one line saying what
    # failed. With -v they are all there.
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    logging.getLogger("elastic_transport").setLevel(logging.DEBUG if verbose else logging.ERROR)
    # The one place the command line reads its configuration; commands take it from here.
    # A setting that fails validation is reported (without its value) by NewsflowGroup.
    settings = Settings()
    redaction.install(
        redaction.Redactor([*settings.secrets(), *stack_secrets(settings)], settings.basic_auth())
    )
    ctx.obj = settings


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the app read for this invocation (subcommand contexts inherit them)."""
    settings = ctx.obj
    if not isinstance(settings, Settings):
        raise RuntimeError("a newsflow command ran without the app's callback")
    return settings
