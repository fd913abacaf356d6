"""The streaming workers: fetch (links -> raw topic), clean (raw -> clean topic) and index
(clean topic -> Elasticsearch).

Each is a stage (consumers.fetching, consumers.process, Article validation) wrapped in
consumers.loop's at-least-once loop. Run them with `newsflow consume fetch|clean|index`;
more processes with the same group share the topic's partitions.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from elastic_transport import ConnectionError as ESConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import Elasticsearch
from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaConnectionError, KafkaTimeoutError

from consumers.batches import BatchPolicy, Handler, LoopPolicy, LoopStats, Sink
from consumers.fetching import ROBOTS_ATTEMPTS, FetchSink
from consumers.health import Liveness, LivenessPolicy, WorkerGaveUp, WorkerMetrics
from consumers.loop import WorkerLoop
from consumers.runner import StageProcess
from consumers.sinks import DeadLetterWriter, ElasticsearchSink, KafkaSink, topic_sink
from consumers.stages import clean_stage
from consumers.stopping import STOP_SIGNALS, StoppedAtStart
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index
from newsflow.kafka.clients import (
    fetch_gathering,
    group_instance_id,
    make_consumer,
    make_producer,
)
from newsflow.kafka.groups import remove_static_member, unowned_partitions
from newsflow.kafka.topics import ensure_topics, message_limit
from newsflow.settings import Settings
from schemas import Stage
from schemas.decode import parse_article, parse_link

log = logging.getLogger(__name__)

T = TypeVar("T")
# A node that is down (refused) or not answering yet (accepts, then times out: starting up).
_UNREACHABLE = (KafkaConnectionError, KafkaTimeoutError, ESConnectionError, ConnectionTimeout)


def when_reachable(action: Callable[[], T], what: str, wait_seconds: float | None) -> T:
    """Runs a start-up step, waiting up to ``wait_seconds`` for a broker or node to answer.

    A long-running worker restarted while Kafka or Elasticsearch restarts (a supervisor does
    that after a crash, a deploy restarts everything at once) waits for them, and if they
    stay away that long gives up with WorkerGaveUp: exit 3, "restart me", as a worker that
    stalls does. ``None`` fails at once: the CLI's run-until-drained commands report an
    absent stack in one line (exit 1).
    """
    deadline = time.monotonic() + (wait_seconds or 0.0)
    delay = 1.0
    while True:
        try:
            return action()
        except _UNREACHABLE as exc:
            if time.monotonic() + delay > deadline:
                if wait_seconds is None:
                    raise
                raise WorkerGaveUp(
                    f"{what} still not reachable after {wait_seconds:g} s at start ({exc}); "
                    "exiting for a restart"
                ) from exc
            log.warning("%s not reachable yet (%s); trying again in %.0f s", what, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _startup_wait(idle_exit_seconds: float | None, max_wait_seconds: float) -> float | None:
    """How long a worker waits for the services at start: long-running ones, ``max_wait``."""
    return max_wait_seconds if idle_exit_seconds is None else None


def policy_from(settings: Settings) -> BatchPolicy:
    return BatchPolicy(
        max_records=settings.bulk.max_docs,
        max_bytes=settings.bulk.max_bytes,
        max_seconds=settings.bulk.max_seconds,
        idle_seconds=settings.bulk.idle_seconds,
    )


def worker_health(
    settings: Settings, stage: Stage, group: str, topic: str
) -> tuple[Liveness, WorkerMetrics]:
    """A worker's metrics (served on ``worker.metrics_port`` if set) and liveness check."""
    metrics = WorkerMetrics(stage.value)
    if settings.worker.metrics_port:
        metrics.serve(settings.worker.metrics_port, settings.worker.metrics_addr)
    liveness = Liveness(
        stage.value,
        LivenessPolicy(
            stall_seconds=settings.worker.stall_seconds,
            unassigned_seconds=settings.worker.unassigned_seconds,
        ),
        metrics=metrics,
        health_file=settings.worker.health_file,
        unassigned_probe=lambda: unowned_partitions(settings, group, topic),
        leave_group=_leave_static(settings, group, group_instance_id(settings, stage.value)),
    )
    return liveness, metrics


def _leave_static(
    settings: Settings, group: str, instance_id: str | None
) -> Callable[[], None] | None:
    """How a static member leaves its group before giving up (None for a dynamic one, whose
    consumer sends LeaveGroup itself when it closes)."""
    if instance_id is None:
        return None
    return lambda: remove_static_member(
        settings, group, instance_id, "no partition while others have no owner"
    )


def counted(handle: Handler, on_record: Callable[[], None] | None) -> Handler:
    """``handle``, calling ``on_record`` after each record whatever became of it (handled,
    dead-lettered or failing the batch): a progress bar counts every record it was given.
    Without ``on_record``, ``handle`` itself: no per-record work is added."""
    if on_record is None:
        return handle

    def handle_and_count(record: ConsumerRecord) -> None:
        try:
            handle(record)
        finally:
            on_record()

    return handle_and_count


def worker_loop(
    settings: Settings,
    stage: Stage,
    group: str,
    topic: str,
    handler: Handler,
    sink: Sink,
    producer: KafkaProducer,
    loop_policy: LoopPolicy | None = None,
    policy: BatchPolicy | None = None,
    health: tuple[Liveness, WorkerMetrics] | None = None,
    **consumer_overrides: Any,
) -> WorkerLoop:
    """A worker's loop as every newsflow worker runs it: its group (static member id if set),
    its dead-letter writer, batch policy, metrics, health file and liveness check."""
    name = stage.value
    liveness, metrics = health or worker_health(settings, stage, group, topic)
    consumer = make_consumer(
        settings, group, group_instance_id=group_instance_id(settings, name), **consumer_overrides
    )
    return WorkerLoop(
        consumer=consumer,
        topic=topic,
        handler=handler,
        sink=sink,
        dlq=DeadLetterWriter(
            producer,
            settings.topics.dead_letter,
            # The topic's own limit if it is lower (see KafkaSink): a letter over it is
            # written truncated rather than refused.
            min(
                settings.limits.max_message_bytes,
                message_limit(settings, settings.topics.dead_letter),
            ),
        ),
        policy=policy or policy_from(settings),
        name=name,
        stage=stage,
        loop_policy=loop_policy,
        liveness=liveness,
        metrics=metrics,
    )


def run_clean_worker(
    settings: Settings,
    idle_exit_seconds: float | None = None,
    max_wait_seconds: float = 120.0,
    on_record: Callable[[], None] | None = None,
    on_loop: Callable[[WorkerLoop], None] | None = None,
) -> LoopStats:
    """Consumes raw articles, cleans and tags them, publishes Articles to the clean topic.

    The stage runs in a child process with a hard time limit per message
    (``limits.clean_timeout_seconds``); a message that overruns it is dead-lettered as
    ``timeout``. ``on_record`` is called after each record, cleaned or not (a progress bar);
    ``on_loop`` with the loop before it runs (whoever stops it from another thread).
    """
    wait = _startup_wait(idle_exit_seconds, max_wait_seconds)
    when_reachable(lambda: ensure_topics(settings), "Kafka", wait)
    stage = StageProcess(
        functools.partial(clean_stage, settings.limits),
        settings.limits.clean_timeout_seconds,
        stage=Stage.CLEAN,
        memory_limit=settings.limits.stage_memory_mb * 2**20,
    )
    # Stopped while starting (consumers.stopping), the child is stopped all the same.
    try:
        stage.start()
        producer = when_reachable(lambda: make_producer(settings), "Kafka", wait)
        try:
            sink = topic_sink(settings, producer, settings.topics.clean, Stage.CLEAN)

            def handle(record: ConsumerRecord) -> None:
                key, value = stage.run(record.value or b"")
                sink.add(key, value)

            loop = worker_loop(
                settings,
                Stage.CLEAN,
                settings.groups.clean,
                settings.topics.raw,
                counted(handle, on_record),
                sink,
                producer,
            )
            if on_loop is not None:
                on_loop(loop)
            return loop.run(idle_exit_seconds=idle_exit_seconds, max_wait_seconds=max_wait_seconds)
        finally:
            producer.close(timeout=10)
    except StoppedAtStart:
        stage.close(grace=0)  # still loading its models: nothing of its to finish
        raise
    finally:
        stage.close()


#: How long `run`'s clean workers wait for each other's stage children to load, at most.
STAGE_START_SECONDS = 120.0


def one_of_many(settings: Settings, slot: int) -> Settings:
    """The settings of the ``slot``-th of several workers run in one process: a dynamic group
    member (two static members under one ``group.instance.id`` would fence each other), and
    the process's metrics port and health file left to the first."""
    kafka = settings.kafka.model_copy(update={"group_instance_id": None})
    update: dict[str, Any] = {"kafka": kafka}
    if slot:
        update["worker"] = settings.worker.model_copy(
            update={"metrics_port": None, "health_file": None}
        )
    return settings.model_copy(update=update)


def merged(stats: list[LoopStats]) -> LoopStats:
    """The counts of several loops' runs as one run's."""
    out = LoopStats()
    for one in stats:
        out.consumed += one.consumed
        out.dead_lettered += one.dead_lettered
        out.flushes += one.flushes
        out.retries += one.retries
        out.rebalances += one.rebalances
        out.signalled = out.signalled or one.signalled
        for reason, n in one.reasons.items():
            out.reasons[reason] = out.reasons.get(reason, 0) + n
    return out


class StopAll:
    """Stop signals for several loops run in threads: the main thread's handler.

    As for one loop (consumers.loop): the first signal has every loop finish its batch in
    hand, commit and return, and a loop that starts later is stopped as it starts; the second
    is only logged; the third raises KeyboardInterrupt, and what was not committed replays.
    """

    def __init__(self) -> None:
        self._loops: list[WorkerLoop] = []
        self._lock = threading.Lock()
        # None while nobody asked to stop; then whether a signal did.
        self._stopped: bool | None = None
        self.signals = 0

    def add(self, loop: WorkerLoop) -> None:
        """A loop about to run; stopped at once if the others were told to stop already."""
        with self._lock:
            self._loops.append(loop)
            if self._stopped is not None:
                loop.stop(self._stopped)

    def stop(self, signalled: bool = False) -> None:
        """Stops every loop, and any that starts later: on a signal, or because one failed."""
        with self._lock:
            self._stopped = bool(self._stopped) or signalled
            for loop in self._loops:
                loop.stop(signalled)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals += 1
        name = signal.Signals(signum).name
        if self.signals == 1:
            log.info("clean: %s received, every worker finishing the batch in hand", name)
            self.stop(signalled=True)
        elif self.signals == 2:
            log.warning(
                "clean: %s received again; still finishing the batches in hand (a third "
                "signal stops at once, and those batches replay on the next start)",
                name,
            )
        else:
            raise KeyboardInterrupt


def run_clean_workers(
    settings: Settings,
    workers: int,
    idle_exit_seconds: float,
    on_record: Callable[[], None] | None = None,
) -> LoopStats:
    """``workers`` clean workers in this process until the raw topic is drained, their counts
    summed: one thread each, with its own consumer in the clean group and its own stage
    child, so pages are cleaned on that many cores at once (`newsflow run --workers`).

    The threads only move bytes between Kafka and their children; the children do the work.
    A worker that fails (its stage cannot start, it gives up) stops the others, which finish
    their batches, and its error is raised. From the main thread the stop signals reach every
    worker (``StopAll``); ``on_record`` may be called from any of the threads.
    """
    if workers <= 1:
        return run_clean_worker(settings, idle_exit_seconds, on_record=on_record)
    tick_lock = threading.Lock()

    def tick() -> None:
        assert on_record is not None
        with tick_lock:
            on_record()

    stopper = StopAll()
    results: list[LoopStats | BaseException | None] = [None] * workers
    # The workers join the group once every stage child has loaded its models. The first to
    # join takes every partition and the next ones take their share back in a rebalance; a
    # worker whose models were still loading joined 6 s late, and the others cleaned its
    # share meanwhile, then ran out while it still worked alone (300 pages, 2 workers: a
    # clean stage of 24 s against 26 s with one). Together they join 1-4 s apart here (the
    # group still rebalances once, and a few pages in hand then may be cleaned twice: the
    # index keeps one document per id).
    all_loaded = threading.Barrier(workers)

    def joined(loop: WorkerLoop) -> None:
        stopper.add(loop)
        with contextlib.suppress(threading.BrokenBarrierError):  # another failed to start
            all_loaded.wait(timeout=STAGE_START_SECONDS)

    def work(slot: int) -> None:
        try:
            results[slot] = run_clean_worker(
                one_of_many(settings, slot),
                idle_exit_seconds,
                on_record=tick if on_record is not None else None,
                on_loop=joined,
            )
        except BaseException as exc:  # handed to the main thread, which raises it
            results[slot] = exc
            all_loaded.abort()
            stopper.stop()

    threads = [
        threading.Thread(target=work, args=(slot,), name=f"clean-{slot}", daemon=True)
        for slot in range(workers)
    ]
    on_main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, stopper.on_signal) for s in STOP_SIGNALS} if on_main else {}
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)  # signal handlers run between the waits
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise failures[0]
    return merged([r for r in results if isinstance(r, LoopStats)])


def run_index_worker(
    settings: Settings,
    idle_exit_seconds: float | None = None,
    max_wait_seconds: float = 120.0,
    on_record: Callable[[], None] | None = None,
    on_loop: Callable[[WorkerLoop], None] | None = None,
) -> LoopStats:
    """Consumes Articles from the clean topic and upserts them into the index alias in bulk.

    ``on_record`` is called after each record is handed to the bulk (or dead-lettered);
    ``on_loop`` with the loop before it runs.

    Its fetches gather articles for up to ``bulk.fetch_wait_ms``: keeping up with two clean
    workers, it got each article in a fetch of its own, and the fetch, the poll and the bulk
    request of one or two articles cost more CPU than the article (docs/benchmarks.md).
    """
    wait = _startup_wait(idle_exit_seconds, max_wait_seconds)
    when_reachable(lambda: ensure_topics(settings), "Kafka", wait)
    es = make_es(settings)
    when_reachable(lambda: ensure_index(es, settings.index), "Elasticsearch", wait)
    producer = when_reachable(lambda: make_producer(settings), "Kafka", wait)
    sink = ElasticsearchSink(
        es,
        settings.index.alias,
        announcer=KafkaSink(producer, settings.topics.indexed, stage=Stage.INDEX),
        concurrency=settings.bulk.concurrency,
    )

    def handle(record: ConsumerRecord) -> None:
        sink.add(parse_article(record.value), record)

    loop = worker_loop(
        settings,
        Stage.INDEX,
        settings.groups.index,
        settings.topics.clean,
        counted(handle, on_record),
        sink,
        producer,
        # Indexing a record is cheap; a larger buffer keeps bulk requests full.
        loop_policy=LoopPolicy(buffer_records=settings.bulk.max_docs),
        **fetch_gathering(settings.bulk.fetch_wait_ms),
    )
    if on_loop is not None:
        on_loop(loop)
    try:
        return loop.run(idle_exit_seconds=idle_exit_seconds, max_wait_seconds=max_wait_seconds)
    finally:
        producer.close(timeout=10)
        es.close()


def fetch_loop(
    settings: Settings,
    producer: KafkaProducer,
    es: Elasticsearch,
    robots_attempts: int = ROBOTS_ATTEMPTS,
) -> tuple[WorkerLoop, FetchSink]:
    """The fetch worker's loop and sink, its writers bound by their topics' own limits.

    ``robots_attempts``: tries a link gets while its site's robots.txt is unavailable (see
    consumers/fetching.py; 1 dead-letters it at the first, for a run that should end).
    """
    health = worker_health(settings, Stage.FETCH, settings.groups.fetch, settings.topics.links)
    sink = FetchSink(
        settings,
        es,
        raw=topic_sink(settings, producer, settings.topics.raw, Stage.FETCH),
        requeue=topic_sink(settings, producer, settings.topics.links, Stage.FETCH),
        beat=health[0].beat,
        robots_attempts=robots_attempts,
    )

    def handle(record: ConsumerRecord) -> None:
        sink.add(parse_link(record.value), record)

    crawl = settings.crawl
    loop = worker_loop(
        settings,
        Stage.FETCH,
        settings.groups.fetch,
        settings.topics.links,
        handle,
        sink,
        producer,
        loop_policy=LoopPolicy(buffer_records=crawl.batch_links),
        policy=BatchPolicy(
            max_records=crawl.batch_links,
            max_bytes=settings.bulk.max_bytes,
            max_seconds=settings.bulk.max_seconds,
        ),
        health=health,
        max_poll_interval_ms=max(
            settings.kafka.max_poll_interval_ms, int((crawl.batch_seconds + 60) * 1000)
        ),
    )
    sink.stopping = lambda: loop.stopping
    return loop, sink


def run_fetch_worker(
    settings: Settings,
    idle_exit_seconds: float | None = None,
    max_wait_seconds: float = 120.0,
    robots_attempts: int = ROBOTS_ATTEMPTS,
) -> LoopStats:
    """Consumes links, fetches their pages politely, publishes RawArticles to the raw topic.

    ``robots_attempts``: as in ``fetch_loop``.

    Up to ``crawl.batch_links`` links are fetched at once, many hosts in parallel, each page
    published when it is done and a new link taking its place (consumers/fetching.py); a
    link gets at most ``crawl.batch_seconds``, and the consumer may go that long (plus a
    minute) between polls, so a slow site never costs the worker its place in the group.
    """
    wait = _startup_wait(idle_exit_seconds, max_wait_seconds)
    when_reachable(lambda: ensure_topics(settings), "Kafka", wait)
    es = make_es(settings)
    producer = when_reachable(lambda: make_producer(settings), "Kafka", wait)
    loop, sink = fetch_loop(settings, producer, es, robots_attempts)
    try:
        stats = loop.run(idle_exit_seconds=idle_exit_seconds, max_wait_seconds=max_wait_seconds)
    finally:
        sink.close()
        producer.close(timeout=10)
        es.close()
    log.info("fetch: %s", sink.stats)
    return stats
