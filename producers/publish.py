"""Publishing sources to the raw topic: key = article id, value = RawArticle JSON, acks awaited.

The pure part (``messages``) turns sources into keyed messages, drops ids already sent in
this run and passes rejections through; ``publish`` is the thin Kafka loop around it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from newsflow.kafka.delivery import Outbox
from producers.sources import Rejected, Source
from schemas.article import RawArticle
from schemas.failures import describe
from schemas.wire import encode_raw

log = logging.getLogger(__name__)

# Sends are settled (flushed and checked) in batches: memory stays bounded on long runs and a
# failure is noticed within one batch, while the producer still batches on the wire.
SETTLE_EVERY = 500
#: Rejections kept with their detail; past these, a run only counts them by reason. A file
#: of millions of unusable lines (a JSON Lines export whose text field has another name, or
#: a small gzip of "{}" lines) kept a value per line: 2 million took 690 MB, and 87 KB of
#: gzip made 30 million, more memory than the machine had.
MAX_KEPT_REJECTIONS = 1000


@dataclass(frozen=True)
class Message:
    """One Kafka record to send: the article id as key, its JSON as value."""

    key: bytes
    value: bytes
    article: RawArticle


@dataclass(frozen=True)
class Duplicate:
    """An article whose id was already sent in this run (same URL or same content)."""

    source: str
    id: str


@dataclass(frozen=True)
class Failed:
    """An article the broker did not acknowledge, with the error."""

    source: str
    id: str
    error: str

    def __str__(self) -> str:
        return f"{self.source}: {self.error}"


@dataclass
class PublishSummary:
    """What a run did: counts, rejections and failures with their reasons, the ids sent."""

    published: int = 0
    skipped: int = 0
    #: The first ``MAX_KEPT_REJECTIONS`` rejections, with their detail.
    rejected: list[Rejected] = field(default_factory=list)
    #: The rejections after those, counted by reason.
    unlisted: Counter[str] = field(default_factory=Counter)
    failed: list[Failed] = field(default_factory=list)
    published_ids: list[str] = field(default_factory=list)
    # Set when the run stopped early because the broker could not be reached at all.
    broker_error: str | None = None
    # Set when the caller asked the run to stop (Ctrl-C) before every input was read.
    interrupted: bool = False

    def reject(self, item: Rejected) -> None:
        """Counts a rejection, and keeps it while fewer than ``MAX_KEPT_REJECTIONS`` are."""
        if len(self.rejected) < MAX_KEPT_REJECTIONS:
            self.rejected.append(item)
        else:
            self.unlisted[str(item.reason)] += 1

    @property
    def rejected_count(self) -> int:
        """How many inputs (or records) were rejected, kept or not."""
        return len(self.rejected) + self.unlisted.total()

    def rejected_by_reason(self) -> Counter[str]:
        """How many inputs were rejected for each reason."""
        return Counter(str(r.reason) for r in self.rejected) + self.unlisted

    @property
    def nothing_published_due_to_broker(self) -> bool:
        """True when the broker failed every send: the one case a CLI run should fail."""
        return self.published == 0 and (bool(self.failed) or self.broker_error is not None)


def to_message(article: RawArticle) -> Message:
    """The Kafka record for ``article``."""
    return Message(
        key=article.id.encode("utf-8"),
        value=encode_raw(article),
        article=article,
    )


def messages(
    sources: Iterable[Source], seen: set[str] | None = None
) -> Iterator[Message | Duplicate | Rejected]:
    """Every source's articles as messages, with repeats of an id in this run as Duplicate.

    ``seen`` holds the ids already sent; it is updated as messages are yielded, so a caller
    can share it across calls.
    """
    seen = set() if seen is None else seen
    for source in sources:
        for item in source.articles():
            if isinstance(item, Rejected):
                yield item
            elif item.id in seen:
                yield Duplicate(source=item.source, id=item.id)
            else:
                seen.add(item.id)
                yield to_message(item)


def _settle(outbox: Outbox[RawArticle], summary: PublishSummary) -> None:
    """Waits for every pending send and counts it as published or failed."""
    settled = outbox.settle()
    for article in settled.acked:
        summary.published += 1
        summary.published_ids.append(article.id)
    for article, exc in settled.failed:
        summary.failed.append(Failed(article.source, article.id, describe(exc)))
        log.warning("not acknowledged: %s %s: %s", article.source, article.id, exc)


def _progress(enabled: bool, console: Console | None) -> AbstractContextManager[Progress | None]:
    console = console or Console(stderr=True)
    if not enabled or not console.is_terminal:
        return nullcontext()
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("inputs"),
        TextColumn("[green]{task.fields[published]} sent"),
        TextColumn("[yellow]{task.fields[skipped]} skipped"),
        TextColumn("[red]{task.fields[rejected]} rejected"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def publish(
    sources: Iterable[Source],
    producer: KafkaProducer,
    topic: str,
    *,
    progress: bool = False,
    console: Console | None = None,
    seen: set[str] | None = None,
    stop: threading.Event | None = None,
) -> PublishSummary:
    """Sends every article of ``sources`` to ``topic`` and waits for the broker's acks.

    Rejections and duplicates are counted, never raised. If the broker cannot even be reached
    (metadata times out), the run stops at once rather than waiting that long per article, and
    ``summary.broker_error`` says why. ``progress`` shows a live bar on a terminal, with a
    total when ``sources`` is a sequence (see ``producers.sources.expand``). Once ``stop`` is
    set, no further article is sent; what was sent is still awaited and counted, and
    ``summary.interrupted`` says the inputs were not all read.
    """
    summary = PublishSummary()
    outbox: Outbox[RawArticle] = Outbox(producer, topic)
    seen = set() if seen is None else seen
    total = len(sources) if isinstance(sources, Sequence) else None
    with _progress(progress, console) as bar:
        task = (
            bar.add_task("producing", total=total, published=0, skipped=0, rejected=0)
            if bar is not None
            else None
        )
        for source in sources:
            if not _publish_one(source, outbox, seen, summary, stop):
                break
            if bar is not None and task is not None:
                bar.update(
                    task,
                    advance=1,
                    published=summary.published + len(outbox),
                    skipped=summary.skipped,
                    rejected=summary.rejected_count,
                )
        _settle(outbox, summary)
    return summary


def _publish_one(
    source: Source,
    outbox: Outbox[RawArticle],
    seen: set[str],
    summary: PublishSummary,
    stop: threading.Event | None,
) -> bool:
    """Sends one source's articles; False when the run must stop (the broker is unreachable,
    or ``stop`` is set: checked before each article, as one archive may hold thousands)."""
    for item in messages([source], seen):
        if stop is not None and stop.is_set():
            summary.interrupted = True
            return False
        if isinstance(item, Rejected):
            summary.reject(item)
            log.debug("rejected %s", item)
        elif isinstance(item, Duplicate):
            summary.skipped += 1
        else:
            article = item.article
            try:
                outbox.send(article, item.key, item.value)
            except KafkaTimeoutError as exc:
                summary.failed.append(Failed(article.source, article.id, describe(exc)))
                summary.broker_error = describe(exc)
                return False
            except KafkaError as exc:  # e.g. a record too large: this article only
                summary.failed.append(Failed(article.source, article.id, describe(exc)))
                continue
            if len(outbox) >= SETTLE_EVERY:
                _settle(outbox, summary)
    return True
