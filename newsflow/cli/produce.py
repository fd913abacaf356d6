"""`newsflow produce`: publish files, folders, feeds and web archives to the raw topic."""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import typer
from kafka.errors import KafkaError
from rich.console import Console

from newsflow.cli.app import app, settings_of
from newsflow.cli.errors import EXIT_INTERRUPTED, describe, one_line
from newsflow.cli.printing import displayable
from newsflow.kafka.clients import make_producer
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import TOPIC_NAME_PATTERN, Settings
from producers.publish import PublishSummary, publish
from producers.sources import SUPPORTED_SUFFIXES, expand

EXIT_OK = 0
EXIT_BROKER = 1
EXIT_NOTHING = 3

# Listing every rejection of a huge run would bury the summary; the counts stay exact.
_MAX_LISTED = 50
# A path can be 4 KB; a line of the list is cut at a length still worth reading.
_LISTED_CHARS = 1000

# A broker that cannot be reached should fail the run in seconds, not after kafka-python's
# default minute per blocked send.
_MAX_BLOCK_MS = 15_000

# Paragraphs are single strings: the help renderer keeps line breaks inside a paragraph.
_HELP = "\n\n".join(
    (
        "Publish articles to the raw topic (NEWSFLOW_TOPIC_RAW).",
        "Each PATH|URL is a file, a directory (searched recursively in sorted order; hidden "
        "files and unknown endings skipped) or an http(s) RSS/Atom feed URL. File kinds by "
        f"ending: {', '.join(SUPPORTED_SUFFIXES)}.",
        "A feed URL is fetched as the crawler fetches (robots.txt, retries, time and size "
        "limits) and never from a private address (loopback, intranet, cloud metadata) unless "
        "NEWSFLOW_CRAWL_ALLOW_PRIVATE_NETWORKS is on, and then only at the feed's own origin.",
        "Every article is keyed by a stable id (hash of its canonical URL, else of its "
        "normalized text), so publishing the same inputs again sends the same keys and the "
        "index never gains duplicates. An unreadable, oversized (> NEWSFLOW_MAX_INPUT_BYTES), "
        "binary or malformed input is reported and skipped; it never stops the batch.",
        "Exit codes:",
        "0 = the run completed, even if some inputs were rejected or skipped as duplicates;",
        "1 = nothing could be published because of a broker error (Kafka unreachable, every "
        "send failed);",
        "2 = bad command line;",
        "3 = nothing was published: every input was rejected (a typo in a path, say);",
        "130 = stopped by Ctrl-C: what was sent until then is awaited and counted (a second "
        "Ctrl-C stops at once).",
    )
)


@contextmanager
def _ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """While inside, the first Ctrl-C (SIGINT) only sets ``stop``; a second one interrupts.

    A KeyboardInterrupt raised wherever the run happened to be came out as whatever caught
    it: "cannot reach Kafka" from the bootstrap, an OSError from the producer's selector, a
    PydanticSerializationError from building a message, each with exit code 1.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.getsignal(signal.SIGINT)

    def first(signum: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_summary(console: Console, summary: PublishSummary, topic: str, quiet: bool) -> None:
    console.print(
        f"[bold]{topic}[/]: [green]{summary.published} published[/], "
        f"[yellow]{summary.skipped} skipped[/] (same id already sent in this run), "
        f"[red]{summary.rejected_count} rejected[/], "
        f"[red]{len(summary.failed)} failed[/] (not acknowledged by the broker)"
    )
    if summary.rejected:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in summary.rejected_by_reason().items())
        console.print(f"rejected by reason: {reasons}")
    if not quiet:
        problems = [*map(str, summary.rejected), *map(str, summary.failed)]
        for line in problems[:_MAX_LISTED]:
            # Names found in a folder are anyone's: one line each, no terminal controls.
            console.print(f"  - {displayable(line, _LISTED_CHARS)}", markup=False, highlight=False)
        listed = min(len(problems), _MAX_LISTED)
        unlisted = summary.rejected_count + len(summary.failed) - listed
        if unlisted:
            console.print(f"  ... and {unlisted} more")
    if summary.broker_error:
        console.print(f"[red]stopped early: broker error: {summary.broker_error}[/]")
    if summary.interrupted:
        console.print("[yellow]interrupted: the inputs after these were not read[/]")


def run_produce(
    locations: list[str],
    settings: Settings,
    *,
    topic: str | None = None,
    quiet: bool = False,
    progress: bool | None = None,
) -> tuple[PublishSummary | None, int]:
    """Publishes ``locations`` and prints the summary; returns it with the CLI exit code.

    ``quiet``: no progress bar and no list of rejections; ``progress`` overrides the former.
    Ctrl-C stops it between two articles (``EXIT_INTERRUPTED``).
    """
    stop = threading.Event()
    with _ctrl_c_sets(stop):
        return _produce(locations, settings, topic, quiet, progress, stop)


def _produce(
    locations: list[str],
    settings: Settings,
    topic: str | None,
    quiet: bool,
    progress: bool | None,
    stop: threading.Event,
) -> tuple[PublishSummary | None, int]:
    # soft_wrap: one line per rejection even in a pipe or CI log, where rich would wrap at 80.
    console = Console(soft_wrap=True)
    topic = topic or settings.topics.raw
    kafka_log = logging.getLogger("kafka")
    if kafka_log.getEffectiveLevel() > logging.DEBUG:
        # Every failed reconnect is logged as an error; the one line below says it all.
        kafka_log.setLevel(logging.CRITICAL)
    try:
        # The producer first: it fails fast (bootstrap timeout) when Kafka is down.
        producer = make_producer(
            settings, max_block_ms=_MAX_BLOCK_MS, bootstrap_timeout_ms=_MAX_BLOCK_MS
        )
    except KafkaError as exc:
        if stop.is_set():
            console.print("[yellow]interrupted before anything was sent[/]")
            return None, EXIT_INTERRUPTED
        # The line every command gives this failure (it said "cannot reach Kafka at ...:
        # KafkaTimeoutError: Unable to bootstrap from [...]", on stdout).
        sys.stderr.write(f"error: {one_line(describe(exc, settings))}\n")
        return None, EXIT_BROKER
    if stop.is_set():
        producer.close(timeout=5)
        console.print("[yellow]interrupted before anything was sent[/]")
        return None, EXIT_INTERRUPTED
    try:
        # Created up front with the configured partition count; a topic auto-created by the
        # first send would get the broker's default (often 1) and cap consumer parallelism.
        topics = settings.topics.model_copy(update={"raw": topic})
        ensure_topics(settings.model_copy(update={"topics": topics}))
    except KafkaError as exc:
        producer.close(timeout=5)
        console.print(f"[red]cannot create topic {topic}: {exc}[/]")
        return None, EXIT_BROKER
    try:
        sources = expand(locations, settings.limits, settings.crawl)
        bar = not quiet if progress is None else progress
        summary = publish(sources, producer, topic, progress=bar, stop=stop)
    finally:
        producer.close(timeout=10)
    _print_summary(console, summary, topic, quiet)
    if summary.interrupted or stop.is_set():
        return summary, EXIT_INTERRUPTED
    if summary.nothing_published_due_to_broker:
        return summary, EXIT_BROKER
    if summary.published == 0 and summary.rejected:
        return summary, EXIT_NOTHING
    return summary, EXIT_OK


def _topic_name(value: str | None) -> str | None:
    if value is not None and not re.match(TOPIC_NAME_PATTERN, value):
        raise typer.BadParameter("a topic name is 1-249 letters, digits, '.', '_' or '-'")
    return value


@app.command(help=_HELP)
def produce(
    ctx: typer.Context,
    locations: list[str] = typer.Argument(
        ..., metavar="PATH|URL", help="Files, directories or http(s) feed URLs to publish."
    ),
    topic: str | None = typer.Option(
        None,
        "--topic",
        "-t",
        help="Publish here instead of the raw topic (NEWSFLOW_TOPIC_RAW).",
        callback=_topic_name,
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bar; print the counts but not each rejection."
    ),
) -> None:
    """Publish articles to the raw topic (see the command help for inputs and exit codes)."""
    _, code = run_produce(locations, settings_of(ctx), topic=topic, quiet=quiet)
    raise typer.Exit(code)
