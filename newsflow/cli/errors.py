"""What the command line says when a command fails: one clear line and a non-zero exit.

Every command runs inside ``NewsflowGroup.invoke``: an Elasticsearch or Kafka error a user can
cause (a service down, wrong credentials, a request the cluster refuses) becomes one line on
stderr naming the service, what happened and what to set, and exit code 1; any other
exception becomes one line too. The traceback is printed only with ``newsflow -v``. Every
line goes through the redactor, so neither a URL's password nor a setting's secret is shown.
A usage error (a missing argument, an unknown command or option, a value an option does not
take) is one line as well, with the command's ``--help`` to try, and exit code 2.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import typer
from elastic_transport import ConnectionError as ESConnectionError
from elastic_transport import ConnectionTimeout, TlsError
from elasticsearch import ApiError
from kafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
    SaslAuthenticationFailedError,
    UnsupportedSaslMechanismError,
)
from pydantic import ValidationError
from typer.core import TyperGroup

from newsflow.redaction import CONTROL_CHARS, redact_url
from newsflow.search import QueryError
from newsflow.settings import Settings, env_name

EXIT_FAILED = 1
EXIT_USAGE = 2  # a setting or an argument the command cannot use
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C

_KAFKA_UNREACHABLE = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError)
_KAFKA_AUTH = (SaslAuthenticationFailedError, UnsupportedSaslMechanismError)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` as one line of at most ``limit`` characters, without terminal controls."""
    # A path in the message may be a hostile file name: ESC sequences must not reach the
    # terminal, nor a newline forge a second line.
    line = " ".join(CONTROL_CHARS.sub("\ufffd", str(text)).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _es_reason(exc: ApiError) -> str:
    """Elasticsearch's own error type and reason, from the response body if it has one."""
    body: Any = exc.body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        first = causes[0] if isinstance(causes, list) and causes else error
        return f"{first.get('type', exc.message)}: {first.get('reason', '')}".rstrip(": ")
    return str(error or exc.message)


def _settings_problems(exc: ValidationError) -> str:
    """Each problem as "NEWSFLOW_VARIABLE: what is wrong" (the value is never shown)."""
    groups = {group.__name__: group for group in Settings.group_types().values()}
    group = groups.get(exc.title)
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        if group is not None and field in group.model_fields:
            name = env_name(group, field)
        else:
            name = ".".join(map(str, error["loc"])) or exc.title
        problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def describe(exc: BaseException, settings: Settings | None) -> str:
    """The one line that tells a user what failed (before redaction)."""
    es_url = redact_url(settings.es.url) if settings else "NEWSFLOW_ES_URL"
    brokers = settings.kafka.bootstrap_servers if settings else "NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS"
    if isinstance(exc, QueryError):
        return f"invalid search: {exc}"
    if isinstance(exc, ValidationError):
        return f"invalid setting: {_settings_problems(exc)}"
    if isinstance(exc, ApiError):
        status = exc.status_code
        if status == 401:
            return (
                f"Elasticsearch at {es_url} refused the credentials (HTTP 401); check "
                "NEWSFLOW_ES_USERNAME/NEWSFLOW_ES_PASSWORD or NEWSFLOW_ES_API_KEY"
            )
        if status == 403:
            return f"Elasticsearch at {es_url} does not allow this (HTTP 403): {_es_reason(exc)}"
        reason = _es_reason(exc)
        if status == 404 and reason.startswith("index_not_found_exception"):
            # What a new user meets first (`newsflow search` before anything was indexed),
            # or a mistyped NEWSFLOW_INDEX_*: say what makes the index.
            return (
                f"Elasticsearch at {es_url} has no such index (HTTP 404: {reason}): nothing "
                "was indexed under that name yet; create the indices with `newsflow init` "
                "(or ingest with `newsflow run`), or check the NEWSFLOW_INDEX_* settings"
            )
        return f"Elasticsearch refused the request (HTTP {status}): {reason}"
    if isinstance(exc, TlsError):
        return f"TLS to Elasticsearch at {es_url} failed: {exc.message}"
    if isinstance(exc, ESConnectionError | ConnectionTimeout):
        return (
            f"Elasticsearch does not answer at {es_url} (start it with `newsflow stack up`, "
            "or set NEWSFLOW_ES_URL)"
        )
    if isinstance(exc, _KAFKA_AUTH):
        return (
            f"Kafka at {brokers} refused the login ({type(exc).__name__}); check "
            "NEWSFLOW_KAFKA_SASL_MECHANISM, NEWSFLOW_KAFKA_SASL_USERNAME and "
            "NEWSFLOW_KAFKA_SASL_PASSWORD"
        )
    if isinstance(exc, _KAFKA_UNREACHABLE):
        return (
            f"no Kafka broker answers at {brokers} (start one with `newsflow stack up`, or "
            "set NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS; with security on, check the "
            "NEWSFLOW_KAFKA_SECURITY_PROTOCOL and SASL settings)"
        )
    if isinstance(exc, KafkaError):
        return f"Kafka error: {type(exc).__name__}: {exc}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def usage_line(exc: typer.TyperException, command_path: str) -> str:
    """The one line for a usage error: typer's message, then the command's --help to try.

    ``command_path`` is the command the error surfaced in ("newsflow clean"); the error's own
    context (the command that could not parse its arguments) wins when it carries one.
    """
    # Option values are checked by pydantic, whose messages open with its error kind.
    message = exc.format_message().replace("Value error, ", "").rstrip(".")
    own = getattr(exc, "ctx", None)
    if own is not None:
        command_path = own.command_path
    return one_line(f"{message}. Try '{command_path} --help'.")


def report(exc: BaseException, settings: Settings | None, verbose: bool) -> None:
    """Prints the failure's line (and with ``verbose`` its traceback) to stderr."""
    hint = "" if verbose else " (run `newsflow -v ...` for details)"
    if verbose:
        sys.stderr.write("".join(traceback.format_exception(exc)))
    sys.stderr.write(f"error: {one_line(describe(exc, settings))}{hint}\n")
    sys.stderr.flush()


def reader_gone() -> typer.Exit:
    """The exit for output piped to a reader that stopped reading (``newsflow ... | head``).

    It stops quietly with exit 1, as Python's documentation suggests and as rich (which prints
    the help) does itself; no error line, since nothing went wrong that the reader cares
    about. Its stdout goes to /dev/null first, or Python's own flush at exit fails on the
    closed pipe and prints a traceback.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return typer.Exit(EXIT_FAILED)


# Exceptions the command-line framework uses for its own exits and aborts.
_FRAMEWORK = (typer.Exit, typer.Abort, EOFError)


def _usage_exit(exc: typer.TyperException, command_path: str) -> typer.Exit:
    """Prints a usage error's line to stderr; the exit (code 2 for usage) to raise."""
    # `newsflow stack` alone: the error is the command's help, already printed.
    if type(exc).__name__ != "NoArgsIsHelpError":
        sys.stderr.write(f"error: {usage_line(exc, command_path)}\n")
        sys.stderr.flush()
    return typer.Exit(getattr(exc, "exit_code", EXIT_USAGE))


class NewsflowGroup(TyperGroup):
    """The root command group: any failure of a command is reported by ``report``, a usage
    error by ``usage_line`` (typer's own report of one is a boxed panel of four lines)."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        # The root's own arguments: `newsflow --bogus`.
        try:
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError:  # `newsflow --help | head`
            raise reader_gone() from None
        except typer.TyperException as exc:
            raise _usage_exit(exc, info_name or self.name or "newsflow") from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _FRAMEWORK:
            raise
        except BrokenPipeError:
            raise reader_gone() from None
        except typer.TyperException as exc:
            # click's errors (UsageError, BadParameter, ...) are TyperExceptions in typer's
            # vendored click: a subcommand's arguments, an unknown command. Some carry no
            # context (an option given a value it does not take): the subcommand was named.
            path = " ".join(filter(None, [ctx.command_path, ctx.invoked_subcommand]))
            raise _usage_exit(exc, path) from None
        except Exception as exc:
            settings = ctx.obj if isinstance(ctx.obj, Settings) else None
            report(exc, settings, verbose=bool(ctx.params.get("verbose")))
            code = EXIT_USAGE if isinstance(exc, ValidationError | QueryError) else EXIT_FAILED
            raise typer.Exit(code) from None
