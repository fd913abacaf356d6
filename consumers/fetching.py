"""The fetch stage's sink: a rolling window of links in, fetched pages out to the raw topic.

The fetch worker (consumers/workers.py) runs the same at-least-once WorkerLoop as the clean
and index workers: its handler only parses each Link and adds it here, and each ``flush``
(every second or so, and whenever the window is full) moves the window on before the loop
commits:

1. links added since the last flush whose page is already indexed (a full page, not a
   summary) are dropped, unless the feed marked the entry updated. "Already ingested" is
   asked of the index itself, which outlives every worker, plus this worker's memory of what
   it fetched lately (the page may still be on its way through clean and index) and of what
   it is fetching. Links are keyed by URL, so every repeat of a URL reaches the same
   partition and so the same worker;
2. the rest start at once on the sink's own event loop (a thread of its own, so fetches go
   on between flushes), through the WebClient: many hosts in parallel, each host within its
   politeness limits, robots.txt obeyed, no private addresses. At most ``batch_links`` links
   are in flight: while the window is full the loop hands over no more (``full``). At most
   ``host_window_links`` of them are one host's: its further links wait in the worker's
   backlog and start as its links in the window end, so a site with thousands of links (a
   big sitemap, fetched a second apart) shares the window with the others instead of filling
   it. Past ``host_backlog_links`` of one host waiting, the loop reads no further on that
   host's partition (``takes``) until they drain; past ``backlog_links`` in all, on none;
3. each link whose fetch ended since the last flush is published: its page becomes a
   RawArticle on the raw topic; a link that failed for good becomes a dead letter with its
   reason (and its entry's own text, if any, goes to the raw topic as a summary, so the news
   is searchable all the same); a link whose time ran out (``batch_seconds`` since its
   host's turn came) goes back to the links topic. The flush returns once the broker
   acknowledged all of it.

So a slow page holds up only itself: the pages fetched beside it are published as they
come, and new links take their places. What is committed stays at-least-once: the loop
commits each partition only up to its first link not finished (``held``), so a crash or a
kill re-reads every link not published, dead-lettered or sent back, and at worst fetches a
page again (the index is keyed by article id). A revoked partition's links in flight are
dropped here (``release``), their fetches cancelled: the new owner fetches them.

A link whose site's robots.txt is unavailable (5xx, 429, no answer: RFC 9309 forbids
crawling the site meanwhile, but it does not refuse) goes back the same way, deferred: it
carries the time before which it is not fetched (``robots_unavailable_seconds``, doubling
with each try). A link read before that time goes straight back; a flush of only such links
asks the loop to let their partitions rest until the first is due (``rest``, see
consumers.loop), so the worker neither sleeps on them while other links are due nor reads
and writes the same few links in a tight loop. After ``ROBOTS_ATTEMPTS`` tries it is a
``robots_unavailable`` dead letter, which `newsflow dlq replay` sends back once the site
answers (at once under `newsflow crawl --once`, whose one pass would otherwise last as long
as the waits).

A flush waits for a fetch at most a second, and the consumer's poll interval stays set above
``batch_seconds`` as before, so the worker keeps its place in its group while links are slow.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

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
from schemas.wire import encode_raw

log = logging.getLogger(__name__)

#: Times a link's fetch may run out of time (``batch_seconds``): it goes back to the links
#: topic after each but the last, after which it is dead-lettered (``fetch_timeout``).
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
T = TypeVar("T")


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


def _partition(record: ConsumerRecord) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


def host_of(url: str) -> str:
    """The host whose politeness gate a URL's fetch waits at (``""`` for none)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def record_host(record: ConsumerRecord) -> str:
    """The host of a links-topic record, from its key (the link's URL), unparsed."""
    key = record.key
    return host_of(key.decode("utf-8", "replace")) if key else ""


def first_offsets(records: list[ConsumerRecord]) -> dict[TopicPartition, int]:
    """The lowest offset among ``records`` of each partition."""
    first: dict[TopicPartition, int] = {}
    for record in records:
        tp = _partition(record)
        first[tp] = min(first.get(tp, record.offset), record.offset)
    return first


class _Unfinished:
    """The link's time (``batch_seconds``) ran out before its fetch ended."""


class _Stopped(_Unfinished):
    """The worker was asked to stop before this link's fetch ended: not the link's fault, no
    try of it."""


Outcome = Page | PermanentError | _Unfinished


@dataclass(eq=False)
class _Fetch:
    """A link in the window: its fetch under way on the sink's event loop."""

    link: Link
    record: ConsumerRecord
    task: asyncio.Task[Page]
    #: Event-loop time after which the fetch is ended unfinished: ``batch_seconds`` after its
    #: first request had its host's turn (seen by a flush), None until then.
    deadline: float | None = None
    #: Its partition was revoked: its outcome is nobody's to publish or commit here.
    released: bool = False


class FetchSink:
    """Fetches links in a rolling window and publishes each page when it is done (see the
    module doc).

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
        # The worker was asked to stop (SIGTERM, Ctrl-C): the links in flight end within a
        # second, going back as they were.
        self.stopping = stopping
        self.stats = FetchStats()
        self.raw = raw
        self.requeue = requeue
        self._links: list[tuple[Link, ConsumerRecord]] = []
        self._window: list[_Fetch] = []
        # Links checked and due, waiting for room in the window, by host (oldest host first;
        # a host that got room goes to the back, so hosts take turns).
        self._backlog: OrderedDict[str, deque[Pending]] = OrderedDict()
        self._backlogged = 0
        # Page ids in the backlog: a URL already waiting is not queued twice.
        self._backlog_ids: set[str] = set()
        # Per host: links in the window; links added or in the backlog (see ``takes``).
        self._fetching: Counter[str] = Counter()
        self._waiting: Counter[str] = Counter()
        # The loop's thread adds links and releases revoked partitions while its flush thread
        # (consumers.inflight) flushes: both go through this lock.
        self._lock = threading.Lock()
        self._rejected: list[tuple[ConsumerRecord, PermanentError]] = []
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._rest: Rest | None = None
        self._want = Want(
            max_bytes=settings.limits.max_input_bytes, html_only=True, accept=PAGE_ACCEPT
        )
        # One event loop for the worker's life, in a thread of its own so that fetches go on
        # between flushes: the client's connections, robots.txt cache and per-host gates carry
        # over from link to link.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fetch-window", daemon=True
        )
        self._thread.start()
        self._client = WebClient(settings.crawl, settings.limits)
        self._run(self._client.__aenter__())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs ``coro`` on the sink's event loop and waits for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        with self._lock:
            window, self._window = self._window, []
        self._run(self._cancel([f.task for f in window]))
        self._run(self._client.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    # --- the Sink protocol ---------------------------------------------------------------

    def add(self, link: Link, record: ConsumerRecord) -> None:
        with self._lock:
            self._links.append((link, record))
            self._waiting[host_of(link.url)] += 1

    def pending(self) -> int:
        # Not the backlog: its links need no flush to wait, and counting them made every
        # flush due, each waiting for a fetch to end before the loop could hand over the
        # next link (1 page/s with a busy host's 300 links waiting). A backlog is never
        # alone: its hosts have links in the window while it holds any (``_admit``).
        return len(self._links) + len(self._window) + self.raw.pending() + self.requeue.pending()

    def pending_bytes(self) -> int:
        return self.raw.pending_bytes() + self.requeue.pending_bytes()

    def full(self) -> bool:
        """Whether the loop hands over no more links: the window's room is spoken for (by
        the links added since the last flush and those in the backlog whose host has room
        in the window), or the backlog holds ``backlog_links``."""
        crawl = self.settings.crawl
        with self._lock:
            ready = sum(
                min(len(queue), max(0, crawl.host_window_links - self._fetching[host]))
                for host, queue in self._backlog.items()
            )
            waiting = len(self._links) + self._backlogged
            return (
                len(self._window) + len(self._links) + ready >= crawl.batch_links
                or waiting >= crawl.backlog_links
            )

    def takes(self, record: ConsumerRecord) -> bool:
        """Whether the loop may hand over ``record`` now: not while its host has
        ``host_backlog_links`` links waiting here (the loop then reads no further on its
        partition, whose next links would only wait behind them)."""
        with self._lock:
            return self._waiting[record_host(record)] < self.settings.crawl.host_backlog_links

    def held(self) -> dict[TopicPartition, int]:
        """The first offset per partition whose link is not finished: not to be committed."""
        with self._lock:
            records = [r for _, r in self._links] + [f.record for f in self._window]
            records += [r for queue in self._backlog.values() for _, r in queue]
        return first_offsets(records)

    def release(self, revoked: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Forgets the links of revoked partitions (their fetches are cancelled); returns
        each such partition's first such offset, where reading resumes if it comes back."""
        with self._lock:
            gone = [f for f in self._window if _partition(f.record) in revoked]
            for fetch in gone:
                fetch.released = True
                self._uncount(self._fetching, host_of(fetch.link.url))
            self._window = [f for f in self._window if not f.released]
            dropped = [r for _, r in self._links if _partition(r) in revoked]
            for link, record in self._links:
                if _partition(record) in revoked:
                    self._uncount(self._waiting, host_of(link.url))
            self._links = [(x, r) for x, r in self._links if _partition(r) not in revoked]
            for host, queue in list(self._backlog.items()):
                kept: deque[Pending] = deque()
                for link, record in queue:
                    if _partition(record) in revoked:
                        dropped.append(record)
                        self._unqueue(host, link)
                    else:
                        kept.append((link, record))
                if kept:
                    self._backlog[host] = kept
                else:
                    del self._backlog[host]
        for fetch in gone:
            self._loop.call_soon_threadsafe(fetch.task.cancel)
        return first_offsets(dropped + [f.record for f in gone])

    def flush(self) -> list[tuple[ConsumerRecord, PermanentError]]:
        """Starts the links added since the last flush, publishes those finished meanwhile
        (waiting up to a second for one when there is no new link or no room), and returns
        once the broker acknowledged what it published."""
        with self._lock:
            links = list(self._links)
        if links:
            due, later = due_now(links, datetime.now(UTC))
            todo = self._not_ingested(due)  # TransientError: the links stay queued
            with self._lock:
                taken = {id(r) for _, r in links}
                self._links = [(x, r) for x, r in self._links if id(r) not in taken]
                for link, _ in links:
                    self._uncount(self._waiting, host_of(link.url))
                for link, record in todo:
                    self._enqueue(link, record)
            # Deferred, not due yet: back as they are. A flush of only those lets their
            # partitions rest (the loop reads the others meanwhile).
            back = [(link, rec) for link, rec in later if self._requeue(link, rec, link)]
            self._rest = rest_after(back, datetime.now(UTC)) if back and not due else None
        if self.stopping():
            # Links not started go back as they were, as those in the window do (_settle):
            # left here, their partitions could not be committed past them.
            for link, record in self._drain_backlog():
                self._requeue(link, record, link)
        started = self._run(self._start(self._admit()))
        # Up to a second for a fetch to end when nothing came or started, or there is no room.
        wait = 0.0 if (started or links) and not self.full() else 1.0
        for fetch, outcome in self._run(self._settle(wait)):
            self._publish(fetch.link, fetch.record, outcome)
        # The links that ended made room: their hosts' next links start now, not a flush later.
        self._run(self._start(self._admit()))
        # Not acknowledged: TransientError, and the loop calls flush again for these.
        self.raw.flush()
        self.requeue.flush()
        rejected, self._rejected = self._rejected, []
        return rejected

    def rest(self) -> Rest | None:
        """After a flush of deferred links only: how long their partitions may rest (once)."""
        rest, self._rest = self._rest, None
        return rest

    # --- the backlog ----------------------------------------------------------------------

    @staticmethod
    def _uncount(counter: Counter[str], host: str) -> None:
        counter[host] -= 1
        if counter[host] <= 0:
            del counter[host]  # a worker meets many hosts: keep only the busy ones

    def _enqueue(self, link: Link, record: ConsumerRecord) -> None:
        """Puts a checked link at the back of its host's backlog (under the lock)."""
        host = host_of(link.url)
        self._backlog.setdefault(host, deque()).append((link, record))
        self._backlog_ids.add(article_id(link.url, b""))
        self._waiting[host] += 1
        self._backlogged += 1

    def _unqueue(self, host: str, link: Link) -> None:
        """Counts a link out of its host's backlog (under the lock; the caller removes it)."""
        self._backlog_ids.discard(article_id(link.url, b""))
        self._uncount(self._waiting, host)
        self._backlogged -= 1

    def _admit(self) -> list[Pending]:
        """Takes from the backlog the links the window has room for, at most
        ``host_window_links`` of a host in the window, hosts taking turns."""
        crawl = self.settings.crawl
        chosen: list[Pending] = []
        with self._lock:
            room = crawl.batch_links - len(self._window)
            for host in list(self._backlog):
                if room <= 0:
                    break
                queue = self._backlog[host]
                free = crawl.host_window_links - self._fetching[host]
                for _ in range(min(len(queue), free, room)):
                    link, record = queue.popleft()
                    self._unqueue(host, link)
                    self._fetching[host] += 1
                    chosen.append((link, record))
                    room -= 1
                if queue:
                    self._backlog.move_to_end(host)
                else:
                    del self._backlog[host]
        return chosen

    def _drain_backlog(self) -> list[Pending]:
        """Empties the backlog (the worker is stopping), oldest host first."""
        with self._lock:
            links = [pending for queue in self._backlog.values() for pending in queue]
            for link, _ in links:
                self._unqueue(host_of(link.url), link)
            self._backlog.clear()
        return links

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
        with self._lock:  # a URL already in flight or waiting is not fetched twice either
            batch = {article_id(f.link.url, b"") for f in self._window} | self._backlog_ids
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

    async def _start(self, links: list[Pending]) -> bool:
        """Puts the links in the window, each fetch starting at once (at most
        max_connections read at once, each once its host's turn came: WebClient); True when
        there were any."""
        fetches = [
            _Fetch(
                link,
                record,
                asyncio.create_task(self._client.get(link.url, self._want, origin_of(link.feed))),
            )
            for link, record in links
        ]
        with self._lock:
            self._window += fetches
        return bool(fetches)

    async def _settle(self, wait: float) -> list[tuple[_Fetch, Outcome]]:
        """Takes the finished links out of the window, waiting up to ``wait`` s for a first
        one, and ends those past their time (or all of them, when the worker stops).

        A link's time starts when its host's turn comes, not when it enters the window: one
        waiting behind its host's other links (at most ``host_window_links`` of them, a
        delay apart) is not cut off, nor does it start a request it has no time left to
        finish. (From the window's entry, with the links of a host taking turns a second
        apart, a link could start a few milliseconds before its time ran out: a wasted
        request, counted as a try, and the page fetched again.)"""
        loop = asyncio.get_running_loop()
        with self._lock:
            window = list(self._window)
        now = loop.time()
        for fetch in window:
            if fetch.deadline is None and self._client.turns(fetch.task) > 0:
                fetch.deadline = now + self.settings.crawl.batch_seconds
        tasks = {f.task for f in window}
        stopped = self.stopping()
        if tasks and wait > 0 and not stopped and not any(t.done() for t in tasks):
            first = min((f.deadline for f in window if f.deadline is not None), default=now + wait)
            timeout = max(0.0, min(wait, first - loop.time()))
            await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            self.beat()  # fetching is progress: the worker is not stuck
            stopped = self.stopping()
        now = loop.time()
        ended = [
            f
            for f in window
            if f.task.done() or stopped or (f.deadline is not None and f.deadline <= now)
        ]
        unfinished = {f.task for f in ended if not f.task.done()}
        await self._cancel(list(unfinished))
        with self._lock:
            ending = set(map(id, ended))
            for fetch in self._window:
                if id(fetch) in ending:
                    self._uncount(self._fetching, host_of(fetch.link.url))
            self._window = [f for f in self._window if id(f) not in ending]
        return [
            (f, self._outcome(f, f.task in unfinished, stopped)) for f in ended if not f.released
        ]

    @staticmethod
    async def _cancel(tasks: list[asyncio.Task[Page]]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _outcome(self, fetch: _Fetch, unfinished: bool, stopped: bool) -> Outcome:
        if unfinished:
            waited = self._client.turns(fetch.task) == 0
            return _Stopped() if stopped or waited else _Unfinished()
        error = fetch.task.exception()
        if error is None:
            return fetch.task.result()
        if isinstance(error, PermanentError):
            return error
        # a bug must cost one link, not the worker
        log.debug("fetching %s", fetch.link.url, exc_info=error)
        return PermanentError(Stage.FETCH, AnyStageReason.UNEXPECTED, describe(error))

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
            self.raw.add(article.id.encode(), encode_raw(article))
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
            self.raw.add(summary.id.encode(), encode_raw(summary))
        except PermanentError as exc:  # the link's dead letter keeps the entry all the same
            log.warning("%s: its feed entry's text is not published either: %s", link.url, exc)
            return
        self.stats.summaries += 1

    def _fail(self, link: Link, record: ConsumerRecord, error: PermanentError) -> None:
        self.stats.failed += 1
        self._rejected.append((record, error))
        self._summary(link)
