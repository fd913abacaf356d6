"""The fetch stage's sink: a batch of links in, fetched pages out to the raw topic.

The fetch worker (consumers/workers.py) runs the same at-least-once WorkerLoop as the clean
and index workers: its handler only parses each Link and adds it here, and ``flush`` does
the work of the batch before the loop commits:

1. links whose page is already indexed (a full page, not a summary) are dropped, unless the
   feed marked the entry updated. "Already ingested" is asked of the index itself, which
   outlives every worker, plus this worker's memory of what it fetched lately (the page may
   still be on its way through clean and index). Links are keyed by URL, so every repeat of
   a URL reaches the same partition and so the same worker;
2. the rest are fetched at once by the WebClient: many hosts in parallel, each host within
   its politeness limits, robots.txt obeyed, no private addresses;
3. each page becomes a RawArticle on the raw topic; a link that failed for good becomes a
   dead letter with its reason (and its entry's own text, if any, goes to the raw topic as a
   summary, so the news is searchable all the same); a link the batch had no time left for
   goes back to the links topic.

A link whose site's robots.txt is unavailable (5xx, 429, no answer: RFC 9309 forbids
crawling the site meanwhile, but it does not refuse) goes back the same way, deferred: it
carries the time before which it is not fetched (``robots_unavailable_seconds``, doubling
with each try). A link read before that time goes straight back; a batch holding only such
links asks the loop to let their partitions rest until the first is due (``rest``, see
consumers.loop), so the worker neither sleeps on them while other links are due nor reads
and writes the same few links in a tight loop. After ``ROBOTS_ATTEMPTS`` tries it is a
``robots_unavailable`` dead letter, which `newsflow dlq replay` sends back once the site
answers (at once under `newsflow crawl --once`, whose one pass would otherwise last as long
as the waits).

A batch is bounded in time (``batch_seconds``), and the consumer's poll interval is set above
that bound, so the worker stays in its group while a batch is fetched.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from elasticsearch import Elasticsearch, NotFoundError
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from consumers.batches import Rest, failed_before, failed_before_header
from consumers.sinks import KafkaSink, transient_es
from newsflow.reading.identity import article_id
from newsflow.settings import Settings
from newsflow.web.addresses import origin_of
from newsflow.web.client import PAGE_ACCEPT, Page, Want, WebClient
from producers.links import page_article, summary_article
from schemas import AnyStageReason, FetchReason, Link, Stage
from schemas.failures import FetchError, PermanentError, describe

log = logging.getLogger(__name__)

#: Batches a link may end unfinished in: it goes back to the links topic after each but the
#: last, after which it is dead-lettered (``fetch_timeout``).
MAX_ATTEMPTS = 3
#: Tries a link gets while its site's robots.txt is unavailable, the waits between them
#: doubling from ``robots_unavailable_seconds``: 2 + 4 + 8 + 16 minutes at the default, so a
#: site down for half an hour loses nothing; longer, the link is a robots_unavailable letter.
ROBOTS_ATTEMPTS = 5
#: Ids of pages this worker fetched lately (they may not be indexed yet).
RECENT_IDS = 100_000


@dataclass
class FetchStats:
    fetched: int = 0
    skipped: int = 0
    failed: int = 0
    requeued: int = 0
    deferred: int = 0
    summaries: int = 0


Pending = tuple[Link, ConsumerRecord]


def due_now(links: list[Pending], now: datetime) -> tuple[list[Pending], list[Pending]]:
    """(links to fetch now, deferred links whose ``not_before`` is still ahead of ``now``)."""
    due = [x for x in links if x[0].not_before is None or x[0].not_before <= now]
    later = [x for x in links if x[0].not_before is not None and x[0].not_before > now]
    return due, later


def rest_after(later: list[Pending], now: datetime) -> Rest:
    """The rest a batch of deferred links only earns: until the first of them is due, for
    the partitions they came from (each gets its links back, keyed by the same host)."""
    first = min(link.not_before or now for link, _ in later)
    sent_back = Counter(TopicPartition(record.topic, record.partition) for _, record in later)
    return Rest(seconds=max(0.0, (first - now).total_seconds()), sent_back=dict(sent_back))


class _Unfinished:
    """The batch ended before this link's fetch did."""


class _Stopped(_Unfinished):
    """The worker was asked to stop before this link's fetch ended, or the link was still
    waiting for its host's turn (politeness: a Crawl-delay, many links of one host in the
    batch) when the batch ended: not the link's fault, no try of it."""


Outcome = Page | PermanentError | _Unfinished


class FetchSink:
    """Fetches each batch of links and publishes the pages (see the module doc).

    ``raw`` and ``requeue`` write to the raw and links topics, each knowing its topic's
    message limit (KafkaSink): a page over the raw topic's is a dead letter of its link
    (``too_large_for_topic``), not a send the broker refuses, which fails the producer for
    good and ended the worker with the rest of its batch.
    """

    def __init__(
        self,
        settings: Settings,
        es: Elasticsearch,
        raw: KafkaSink,
        requeue: KafkaSink,
        beat: Callable[[], None] = lambda: None,
        stopping: Callable[[], bool] = lambda: False,
        robots_attempts: int = ROBOTS_ATTEMPTS,
    ) -> None:
        """``robots_attempts``: tries a link gets while its site's robots.txt is unavailable
        (1: none deferred, for a run that should end, `newsflow crawl --once`)."""
        self.settings = settings
        self.robots_attempts = robots_attempts
        self.es = es
        self.beat = beat
        # The worker was asked to stop (SIGTERM, Ctrl-C): the batch in hand ends within a
        # second instead of at its deadline, its unfinished links going back as they were.
        self.stopping = stopping
        self.stats = FetchStats()
        self.raw = raw
        self.requeue = requeue
        self._links: list[tuple[Link, ConsumerRecord]] = []
        self._rejected: list[tuple[ConsumerRecord, PermanentError]] = []
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._rest: Rest | None = None
        self._want = Want(
            max_bytes=settings.limits.max_input_bytes, html_only=True, accept=PAGE_ACCEPT
        )
        # One event loop for the worker's life: the client's connections, robots.txt cache
        # and per-host gates carry over from batch to batch.
        self._loop = asyncio.new_event_loop()
        self._client = WebClient(settings.crawl, settings.limits)
        self._loop.run_until_complete(self._client.__aenter__())

    def close(self) -> None:
        self._loop.run_until_complete(self._client.__aexit__(None, None, None))
        self._loop.close()

    # --- the Sink protocol ---------------------------------------------------------------

    def add(self, link: Link, record: ConsumerRecord) -> None:
        self._links.append((link, record))

    def pending(self) -> int:
        return len(self._links) + self.raw.pending() + self.requeue.pending()

    def pending_bytes(self) -> int:
        return self.raw.pending_bytes() + self.requeue.pending_bytes()

    def flush(self) -> list[tuple[ConsumerRecord, PermanentError]]:
        if self._links:
            due, later = due_now(self._links, datetime.now(UTC))
            todo = self._not_ingested(due)  # TransientError: the links stay queued
            self._links = []
            # Deferred, not due yet: back as they are. A batch of only those lets their
            # partitions rest (the loop reads the others meanwhile).
            back = [(link, rec) for link, rec in later if self._requeue(link, rec, link)]
            self._rest = rest_after(back, datetime.now(UTC)) if back and not due else None
            outcomes = self._loop.run_until_complete(self._fetch_all([link for link, _ in todo]))
            for (link, record), outcome in zip(todo, outcomes, strict=True):
                self._publish(link, record, outcome)
        # Not acknowledged: TransientError, and the loop calls flush again for these.
        self.raw.flush()
        self.requeue.flush()
        rejected, self._rejected = self._rejected, []
        return rejected

    def rest(self) -> Rest | None:
        """After a flush of deferred links only: how long their partitions may rest (once)."""
        rest, self._rest = self._rest, None
        return rest

    # --- 1. due? already ingested? --------------------------------------------------------

    def _not_ingested(
        self, links: list[tuple[Link, ConsumerRecord]]
    ) -> list[tuple[Link, ConsumerRecord]]:
        if not links:
            return []
        ids = {link.url: article_id(link.url, b"") for link, _ in links}
        with transient_es("lookup of indexed pages"):
            try:
                response = self.es.mget(
                    index=self.settings.index.alias,
                    ids=sorted(set(ids.values())),
                    source_includes=["summary_only"],
                )
                docs = response["docs"]
            except NotFoundError:  # no index yet: nothing is ingested
                docs = []
        indexed = {
            doc["_id"]
            for doc in docs
            if doc.get("found") and not (doc.get("_source") or {}).get("summary_only")
        }
        todo: list[tuple[Link, ConsumerRecord]] = []
        batch: set[str] = set()
        for link, record in links:
            page_id = ids[link.url]
            known = page_id in indexed or page_id in self._recent or page_id in batch
            if known and not (link.updated and page_id not in batch):
                self.stats.skipped += 1
                continue
            batch.add(page_id)
            todo.append((link, record))
        return todo

    # --- 2. fetch ------------------------------------------------------------------------

    async def _fetch_all(self, links: list[Link]) -> list[Outcome]:
        if not links:
            return []
        # At most max_connections read at once, each once its host's turn came (WebClient).
        tasks = [
            asyncio.create_task(self._client.get(link.url, self._want, origin_of(link.feed)))
            for link in links
        ]
        deadline = asyncio.get_running_loop().time() + self.settings.crawl.batch_seconds
        pending = set(tasks)
        stopped = False
        while pending:
            left = deadline - asyncio.get_running_loop().time()
            stopped = self.stopping()
            if left <= 0 or stopped:
                break
            _, pending = await asyncio.wait(pending, timeout=min(1.0, left))
            self.beat()  # fetching is progress: the worker is not stuck
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        outcomes: list[Outcome] = []
        for link, task in zip(links, tasks, strict=True):
            if task in pending:
                waited = self._client.turns(task) == 0
                outcomes.append(_Stopped() if stopped or waited else _Unfinished())
                continue
            error = task.exception()
            if error is None:
                outcomes.append(task.result())
            elif isinstance(error, PermanentError):
                outcomes.append(error)
            else:  # a bug must cost one link, not the batch
                log.debug("fetching %s", link.url, exc_info=error)
                outcomes.append(
                    PermanentError(Stage.FETCH, AnyStageReason.UNEXPECTED, describe(error))
                )
        return outcomes

    # --- 3. publish ----------------------------------------------------------------------

    def _publish(self, link: Link, record: ConsumerRecord, outcome: Outcome) -> None:
        if isinstance(outcome, _Stopped):  # back as it was: this batch does not count
            self._requeue(link, record, link)
            return
        if isinstance(outcome, _Unfinished):
            if link.attempts + 1 < MAX_ATTEMPTS:
                self._requeue(link, record, link.model_copy(update={"attempts": link.attempts + 1}))
                return
            outcome = FetchError(
                FetchReason.FETCH_TIMEOUT,
                f"{link.url}: not fetched within {MAX_ATTEMPTS} batches of "
                f"{self.settings.crawl.batch_seconds:g} s",
            )
        if isinstance(outcome, FetchError) and outcome.reason == FetchReason.ROBOTS_UNAVAILABLE:
            given_up = self._defer(link, record, outcome)
            if given_up is None:
                return
            outcome = given_up
        if isinstance(outcome, PermanentError):
            self._fail(link, record, outcome)
            return
        article = page_article(link, outcome.body, outcome.charset, outcome.url)
        try:
            self.raw.add(article.id.encode(), article.model_dump_json().encode())
        except PermanentError as exc:  # larger than the raw topic takes
            self._fail(link, record, exc)
            return
        self.stats.fetched += 1
        self._recent[article.id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)

    def _defer(
        self, link: Link, record: ConsumerRecord, error: FetchError
    ) -> PermanentError | None:
        """Sends a link whose site's robots.txt is unavailable back to wait, or, after
        ``ROBOTS_ATTEMPTS`` tries, the error to dead-letter it with (None: deferred)."""
        base = self.settings.crawl.robots_unavailable_seconds
        tries = self.robots_attempts
        if link.attempts + 1 >= tries:
            waited = base * (2 ** (tries - 1) - 1)
            over = f"; still after {tries} tries over {waited:g} s" if tries > 1 else ""
            return FetchError(
                FetchReason.ROBOTS_UNAVAILABLE,
                f"{error.message}{over} (`newsflow dlq replay` once the site answers)",
            )
        wait = timedelta(seconds=base * 2**link.attempts)
        again = link.model_copy(
            update={"attempts": link.attempts + 1, "not_before": datetime.now(UTC) + wait}
        )
        # A replayed link keeps its count of failures (consumers.batches) while it waits.
        headers = failed_before_header(failed_before(record))
        try:
            self.requeue.add(link.url.encode(), again.model_dump_json().encode(), headers)
        except PermanentError as exc:  # the links topic's limit is now below it
            return exc
        self.stats.deferred += 1
        if link.attempts == 0:  # searchable meanwhile; the page replaces it when it comes
            self._summary(link)
        return None

    def _requeue(self, link: Link, record: ConsumerRecord, again: Link) -> bool:
        """Sends the link back to the links topic for a later batch (or dead-letters it, if
        that topic's limit is now below it: False)."""
        # A replayed link keeps its count of failures (consumers.batches) across requeues.
        headers = failed_before_header(failed_before(record))
        try:
            self.requeue.add(link.url.encode(), again.model_dump_json().encode(), headers)
        except PermanentError as exc:
            self._fail(link, record, exc)
            return False
        self.stats.requeued += 1
        return True

    def _summary(self, link: Link) -> None:
        summary = summary_article(link)
        if summary is None:
            return
        try:
            self.raw.add(summary.id.encode(), summary.model_dump_json().encode())
        except PermanentError as exc:  # the link's dead letter keeps the entry all the same
            log.warning("%s: its feed entry's text is not published either: %s", link.url, exc)
            return
        self.stats.summaries += 1

    def _fail(self, link: Link, record: ConsumerRecord, error: PermanentError) -> None:
        self.stats.failed += 1
        self._rejected.append((record, error))
        self._summary(link)
