"""The thin at-least-once consumer loop that every worker runs.

poll -> handle each record (a pure stage) -> add results to a sink -> when the batch is due
(count, bytes or age), flush the sink, write dead letters, and only then commit the offsets.
A flush that fails transiently is retried with backoff and nothing is committed meanwhile, so
a crash at any point replays the uncommitted records; downstream writes are keyed by article
id, so a replay overwrites instead of duplicating.

What keeps a worker a live member of its group under load (docs/streaming.md has the
evidence behind each point):

- ``poll`` is called at least every ``LoopPolicy.poll_interval`` seconds of stage work, not
  once per fetched batch: records wait in a local buffer and are handled one by one between
  polls, and the assigned partitions are paused while the buffer is full. A rebalance (a
  worker joining or leaving) waits for one record's stage time, not for a whole batch of them.
- CPU-heavy stages run in a child process (consumers.runner), so the Kafka client's own
  threads in this process are never starved of the GIL by a long parse.
- The rebalance listener does no blocking work: kafka-python 3 calls it on the client's IO
  thread, where a flush or commit would stop heartbeats (or fail outright). It only queues
  the revoked partitions; the loop then drops their buffered records and uncommitted offsets.
  The new owner replays them from the last commit, which the keyed writes make harmless.
- While a flush waits for a downstream outage to end, the loop keeps polling with every
  partition paused, so the worker stays in its group instead of timing out of it.
- A sink may send a whole batch back to its topic to wait (the fetch sink's deferred links,
  consumers.batches.Rest): the loop then pauses those partitions until the first record is
  due or anything else arrives on them, and reads the others meanwhile. The sink never
  sleeps on such a batch (its wait held up every link that was due) and the same records are
  not read and sent back in a tight loop.
- A sink may keep records unfinished across flushes (the fetch sink's window of links in
  flight, consumers.batches.Holding): the loop hands it no more while it is full, and commits
  each partition only up to its first unfinished record, the rest with a later flush. A
  revoked partition's unfinished records are dropped like its buffered ones. Such a sink may
  also refuse a record for now (``takes``: the fetch sink, when its host has enough links
  waiting): the loop then hands over nothing more of that partition and pauses it, and
  goes on with the others, until the sink takes it.
- A liveness check (consumers.health) ends the worker with a non-zero exit when it stops
  making progress while it has work, so its supervisor restarts it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from types import FrameType
from typing import Any, cast

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from consumers.batches import (
    BatchPolicy,
    DeadLetters,
    Handler,
    Holding,
    LoopPolicy,
    LoopStats,
    Resting,
    Sink,
    dead_letter,
)
from consumers.health import Liveness, WorkerGaveUp, WorkerMetrics
from consumers.inflight import Batch, Detachable, Flight
from consumers.rebalance import Rebalance, drop_revoked
from consumers.stopping import loop_ended
from newsflow.kafka.clients import caught_up, rebalancing, resume
from schemas import AnyStageReason, DeadLetter, Stage
from schemas.failures import PermanentError, TransientError, describe

log = logging.getLogger(__name__)

#: How long closing the consumer waits for the group to answer its LeaveGroup. The broker
#: answers a connection's requests in order, and holds a JoinGroup until the rebalance ends:
#: a worker stopped while its join waited for a member that had died (SIGKILLed, its session
#: not expired yet) waited that long in close, for up to the client's 30 s request timeout,
#: after it logged that it was stopping. Leaving is a courtesy (the group drops a member that
#: is gone when its session expires); everything the worker owed was committed before this.
LEAVE_GROUP_TIMEOUT_MS = 5_000
#: Longest rest (see ``_rest``) of a partition that may hold records the worker has not seen.
UNSEEN_REST_SECONDS = 5.0


class WorkerLoop:
    """Polls, hands records to the stage, flushes the sink, dead-letters, then commits."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        topic: str,
        handler: Handler,
        sink: Sink,
        dlq: DeadLetters,
        policy: BatchPolicy,
        name: str = "worker",
        stage: Stage = Stage.CLEAN,
        loop_policy: LoopPolicy | None = None,
        liveness: Liveness | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.consumer = consumer
        self.topic = topic
        self.handler = handler
        self.sink = sink
        self.dlq = dlq
        self.policy = policy
        self.loop_policy = loop_policy or LoopPolicy()
        self.name = name
        self.stage = stage
        self.liveness = liveness or Liveness(name)
        self.metrics = metrics or WorkerMetrics(stage.value)
        self.stats = LoopStats()
        self.worker_id = f"{name}@{socket.gethostname()}:{os.getpid()}"
        self._buffer: deque[ConsumerRecord] = deque()
        self._offsets: dict[TopicPartition, int] = {}
        self._dead: list[DeadLetter] = []
        self._batch_started: float | None = None
        # The batch being flushed in the background (sinks that can detach one only).
        self._flight: Flight | None = None
        self._revocations: queue.SimpleQueue[set[TopicPartition]] = queue.SimpleQueue()
        self._paused = False
        # Partitions resting (Rest): until when, and their end offset when the rest began.
        self._resting: dict[TopicPartition, tuple[float, int]] = {}
        # Partitions whose next buffered record the sink does not take yet (Holding.takes):
        # paused, and their buffered records not counted against the buffer's size.
        self._blocked: set[TopicPartition] = set()
        self._rest_checked = 0.0
        # The last poll left nothing behind at the broker (as far as the last fetches saw):
        # a batch need not wait to fill (see BatchPolicy.idle_seconds).
        self._caught_up = False
        self._broker_away = False
        self._stopping = False
        self._signals = 0

    # --- lifecycle -----------------------------------------------------------------------

    def stop(self, signalled: bool = False) -> None:
        """Asks the loop to finish the batch in hand, commit and return; ``signalled``: on a
        stop signal (LoopStats.signalled), taken by another thread."""
        self._stopping = True
        if signalled:
            self.stats.signalled = True

    @property
    def stopping(self) -> bool:
        """Whether the loop was asked to stop (a sink may end a long batch early)."""
        return self._stopping

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            log.info("%s: %s received, finishing the batch in hand", self.name, name)
            self.stats.signalled = True
            self.stop()
            return
        if self._signals == 2:
            # A second signal used to raise KeyboardInterrupt wherever the loop was: a batch
            # already sent downstream was left uncommitted and went through the stage again
            # on the next start (every article of it twice on the clean topic), and a Ctrl-C
            # and a supervisor's SIGTERM together were enough for that. Stopping is bounded
            # without it: one record's stage time, a flush that gives up on an outage, a
            # commit that waits out a rebalance for at most 10 s.
            log.warning(
                "%s: %s received again; still finishing the batch in hand (a third signal "
                "stops at once, and that batch replays on the next start)",
                self.name,
                name,
            )
            return
        # Nothing is committed, so nothing is lost either: the batch replays.
        raise KeyboardInterrupt

    def run(
        self, idle_exit_seconds: float | None = None, max_wait_seconds: float = 120.0
    ) -> LoopStats:
        """Runs until stopped (SIGTERM/SIGINT) or, with ``idle_exit_seconds``, until drained.

        Drained means: every assigned partition is at its end offset and nothing arrived for
        ``idle_exit_seconds``. Raises WorkerGaveUp (the CLI exits non-zero) when no partition
        was assigned within ``max_wait_seconds`` or the liveness check finds the worker stuck.
        """
        # Python sets signal handlers in the main thread only; a loop run in another thread
        # (`newsflow run`'s clean workers, consumers.workers.run_clean_workers) is stopped by
        # whoever holds the signals there, through stop().
        previous = (
            {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
            if threading.current_thread() is threading.main_thread()
            else {}
        )
        listener = Rebalance(self._revocations, self.liveness, self.name)
        self.consumer.subscribe([self.topic], listener=listener)
        try:
            # The topic's metadata before the first join (the first poll), fetched once
            # subscribed: a member whose first assignment ran without it ("No partition
            # metadata") was seen to wait minutes for a second one. And fetched after
            # subscribing, as the coordinator notes the subscribed topics' partitions only
            # from a metadata answer: fetched before (as it was), the leader assigned from an
            # empty note, and the next answer, a fraction of a second later, differed from it
            # and started a second rebalance of the whole group at every worker's start (its
            # records in hand dropped, fetch workers' pages in flight fetched again).
            self.consumer.topics()
        except KafkaError as exc:  # the broker is away: the poll below waits for it
            log.debug("%s: no metadata for %s yet: %s", self.name, self.topic, exc)
        started = last_record = time.monotonic()
        self.liveness.start()
        try:
            while not self._stopping:
                self._wake_rested()
                got = self._poll(block=not self._buffer)
                if got:
                    last_record = time.monotonic()
                self._work_buffer()
                self._land()
                if self._due():
                    self._flush_and_commit()
                self.liveness.beat()
                self._check_liveness()
                if idle_exit_seconds is not None and not self._buffer and not got:
                    if self._pending():
                        self._flush_and_commit()
                    if not self.consumer.assignment():
                        if time.monotonic() - started > max_wait_seconds:
                            raise WorkerGaveUp(
                                f"{self.name}: no partition of {self.topic} was assigned "
                                f"within {max_wait_seconds:g} s"
                            )
                    elif (
                        time.monotonic() - last_record >= idle_exit_seconds
                        and not self._holding()
                        and self._drained()
                    ):
                        break
            self._final_commit()
        finally:
            if self._flight is not None:
                self._flight.abort()  # not landed: uncommitted, so it replays
            self.liveness.stop()
            # What the loop owed is committed (or was not, and replays): a signal from here
            # on must not cut the clients' close short.
            loop_ended()
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.consumer.close(autocommit=False, timeout_ms=LEAVE_GROUP_TIMEOUT_MS)
        log.info(
            "%s: stopped after %d records (%d dead-lettered)",
            self.name,
            self.stats.consumed,
            self.stats.dead_lettered,
        )
        return self.stats

    # --- polling -------------------------------------------------------------------------

    def _poll(self, block: bool) -> int:
        """Fetches more records into the buffer (or none, paused); returns how many came."""
        assigned = self.consumer.assignment()
        buffered = self._unblocked_buffer()
        full = buffered >= self.loop_policy.buffer_records
        if full and assigned:
            self.consumer.pause(*assigned)
            self._paused = True
        else:
            resting = (set(self._resting) | self._blocked) & assigned
            self.metrics.held_back.set(len(resting))
            paused = self.consumer.paused()
            resume(self.consumer, paused - resting)
            if resting - paused:
                self.consumer.pause(*(resting - paused))
            self._paused = False
        room = max(1, self.loop_policy.buffer_records - buffered)
        # Mid-rebalance, give the join time to finish inside one poll: a join whose answer
        # comes back after poll() returned is applied only by a later poll (and kafka-python
        # 3.0 needs newsflow.kafka.clients' workaround to apply it at all).
        timeout = 2000 if rebalancing(self.consumer) else self._wait_ms() if block else 0
        batch = self._client_poll(timeout_ms=timeout, max_records=room)
        count = self._take(batch)
        # Caught up: an empty poll, or every record the last fetches saw is in hand. A steady
        # trickle faster than one record per poll wait (10/s and up, 15/s at the benchmark's
        # half load) never gives an empty poll: its batches were held the whole max_seconds
        # and, with the 1 s refresh, produce -> searchable p99 reached 2.1 s.
        self._caught_up = not self._paused and (count == 0 or caught_up(self.consumer))
        return count

    def _unblocked_buffer(self) -> int:
        """Buffered records not waiting on a blocked partition (forgetting partitions with
        nothing buffered any more: revoked, or taken since)."""
        if not self._blocked:
            return len(self._buffer)
        waiting = [TopicPartition(r.topic, r.partition) for r in self._buffer]
        self._blocked &= set(waiting)
        return sum(tp not in self._blocked for tp in waiting)

    def _take(self, batch: dict[TopicPartition, list[Any]]) -> int:
        """Buffers what a poll returned, then applies revocations that came meanwhile.

        In that order: records fetched after a partition came back to this worker (its fetch
        position kept, see _apply_revocations) go with the older ones it drops and re-reads.
        """
        count = 0
        for records in batch.values():
            self._buffer.extend(records)
            count += len(records)
        self._apply_revocations()
        return count

    def _wait_ms(self) -> int:
        """How long an empty poll may wait: 200 ms, or until an open batch may close idle.

        A batch closes idle only after a poll says it is caught up; waiting the full 200 ms past
        the idle age held each trickled record up to 0.2 s longer before its bulk (produce ->
        searchable).
        Never under 100 ms: under load a shorter empty poll can mean a fetch still on its way,
        not a caught-up partition, and closing batches on it made bulk requests small.
        """
        idle = self.policy.idle_seconds
        if self._batch_started is None or idle is None:
            return 200
        left = self._batch_started + idle - time.monotonic()
        return max(100, min(200, int(left * 1000)))

    def _keep_membership(self) -> None:
        """Calls poll with every partition paused: group duties only, no new records."""
        assigned = self.consumer.assignment()
        if assigned:
            self.consumer.pause(*assigned)
            self._paused = True
        # A partition assigned during this poll is not paused yet, and a record it returns
        # is past the client's position: it is kept, or it would be skipped for good.
        self._take(self._client_poll(timeout_ms=0, max_records=1))
        self.liveness.beat()

    def _client_poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        """The client's poll; a broker that cannot be reached is waited for, not fatal.

        The client reconnects by itself; meanwhile nothing can be fetched or committed, and a
        restart would not help, so the liveness check treats it as a downstream outage.
        """
        try:
            batch: dict[TopicPartition, list[Any]] = self.consumer.poll(
                timeout_ms=timeout_ms, max_records=max_records
            )
        except KafkaError as exc:
            if not self._broker_away:
                log.warning(
                    "%s: Kafka unreachable (%s); waiting for it to come back", self.name, exc
                )
            self._broker_away = True
            self.liveness.waiting_downstream(True)
            time.sleep(1.0)
            return {}
        if self._broker_away:
            log.info("%s: Kafka reachable again", self.name)
            self._broker_away = False
            self.liveness.waiting_downstream(False)
        return batch

    def _apply_revocations(self) -> None:
        """Forgets what belongs to partitions this worker no longer owns.

        Buffered records of a revoked partition are dropped and its consumer position moved
        back to the first of them. A partition that moves away is read by its new owner
        from the last commit; one that comes back to this worker (an eager rebalance revokes
        every partition and hands most of them back) keeps the client's fetch position,
        past the dropped records, and would skip them without the seek.
        """
        while True:
            try:
                revoked = self._revocations.get_nowait()
            except queue.Empty:
                return
            self.stats.rebalances += 1
            self.metrics.rebalances.inc()
            if not revoked:
                continue
            for tp in revoked:
                self._resting.pop(tp, None)
            before = len(self._buffer)
            self._buffer, first_dropped = drop_revoked(self._buffer, revoked)
            if isinstance(self.sink, Holding):
                # Its unfinished records of those partitions too: their offsets are not this
                # worker's to commit any more, and a partition that comes back is read again
                # from the first of them.
                for tp, offset in self.sink.release(revoked).items():
                    first_dropped[tp] = min(first_dropped.get(tp, offset), offset)
            dropped = [tp for tp in revoked if self._offsets.pop(tp, None) is not None]
            flown = []
            if self._flight is not None:
                # Its writes still land (keyed, so the new owner's replay is harmless), but
                # its offsets for those partitions are no longer this worker's to commit.
                flown = [tp for tp in revoked if self._flight.batch.offsets.pop(tp, None)]
            # Records handled but now never committed by this worker: a partition it holds
            # again reads them again from its last commit. Without that, a partition with no
            # newer record (the tail of a backlog, in flight while Elasticsearch was down)
            # kept its commit behind for good, its lag never zero (soak runs that never ended).
            for tp, offset in self._last_commits(set(dropped) | set(flown)).items():
                first_dropped[tp] = min(first_dropped.get(tp, offset), offset)
            self._rewind(first_dropped)
            if before != len(self._buffer) or dropped:
                log.info(
                    "%s: partitions %s revoked; %d buffered records left for their new owner",
                    self.name,
                    sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked),
                    before - len(self._buffer),
                )

    def _last_commits(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offset of each of ``partitions`` this consumer holds (again),
        or the log's start where there is none."""
        held = partitions & self.consumer.assignment() if partitions else set()
        out: dict[TopicPartition, int] = {}
        for tp in sorted(held):
            try:
                offset = self.consumer.committed(tp, timeout_ms=10_000)
                if offset is None:
                    offset = self.consumer.beginning_offsets([tp], timeout_ms=10_000)[tp]
            except KafkaError as exc:  # the next restart replays them instead
                log.warning("%s: could not read %s's last commit (%s)", self.name, tp, exc)
                continue
            out[tp] = offset
        return out

    def _rewind(self, positions: dict[TopicPartition, int]) -> None:
        """Seeks partitions this consumer (still or again) holds back to dropped records;
        one that is gone is read by its new owner from the last commit."""
        held = self.consumer.assignment() if positions else set()
        for tp, offset in positions.items():
            if tp in held:
                with contextlib.suppress(ValueError):  # unassigned in between
                    self.consumer.seek(tp, offset)

    # --- per record ----------------------------------------------------------------------

    def _work_buffer(self) -> None:
        """Handles buffered records until the buffer is empty or it is time to poll again."""
        deadline = time.monotonic() + self.loop_policy.poll_interval
        while self._buffer and not self._stopping:
            self._apply_revocations()
            if not self._buffer:
                return
            if isinstance(self.sink, Holding) and self.sink.full():
                # Its window is full: the flush waits for a record to finish (up to a second).
                self._flush_and_commit()
                if self.sink.full():
                    return  # poll meanwhile; the buffer, full, pauses the partitions
                continue
            record = self._next_record()
            if record is None:
                # The sink takes none of them yet: the flush moves it on (waiting up to a
                # second for a record to finish); their partitions stay paused meanwhile.
                self._flush_and_commit()
                return
            self._handle(record)
            if self._due():
                self._flush_and_commit()
            if time.monotonic() >= deadline:
                return

    def _next_record(self) -> ConsumerRecord | None:
        """The first buffered record the sink takes, none of its partition's earlier ones
        being refused (None: it takes none). A refused record blocks its partition."""
        if not isinstance(self.sink, Holding):
            return self._buffer.popleft()
        refused: set[TopicPartition] = set()
        for i, record in enumerate(self._buffer):
            tp = TopicPartition(record.topic, record.partition)
            if tp in refused:
                continue
            if self.sink.takes(record):
                del self._buffer[i]
                self._blocked.discard(tp)
                self._block(refused)
                return record
            refused.add(tp)
        self._block(refused)
        return None

    def _block(self, refused: set[TopicPartition]) -> None:
        new = refused - self._blocked
        if new:
            log.info(
                "%s: reading no further on %s until the sink takes their next records "
                "(a host with as many links waiting as it holds); the others go on",
                self.name,
                sorted(f"{tp.topic}[{tp.partition}]" for tp in new),
            )
        self._blocked |= refused

    def _handle(self, record: ConsumerRecord) -> None:
        if self._batch_started is None:
            self._batch_started = time.monotonic()
        self.stats.consumed += 1
        self.metrics.consumed.inc()
        try:
            self.handler(record)
        except PermanentError as exc:
            self._add_dead(record, exc)
        except TransientError:
            raise
        except Exception as exc:  # a bug in a stage must cost one message, not the worker
            # One line per message; the traceback only with -v, or a flood of bad input
            # would bury the log.
            log.debug("%s: stage error", self.name, exc_info=True)
            error = PermanentError(self.stage, AnyStageReason.UNEXPECTED, describe(exc))
            self._add_dead(record, error)
        tp = TopicPartition(record.topic, record.partition)
        self._offsets[tp] = record.offset + 1
        self.liveness.progressed()

    def _add_dead(self, record: ConsumerRecord, error: PermanentError) -> None:
        self._count_dead(record, error)
        self._dead.append(dead_letter(record, error))

    def _count_dead(self, record: ConsumerRecord, error: PermanentError) -> None:
        log.warning(
            "%s: dead-lettering %s[%d]@%d: %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            error,
        )
        self.stats.dead_lettered += 1
        self.stats.reasons[error.reason] = self.stats.reasons.get(error.reason, 0) + 1
        self.metrics.dead_lettered.labels(reason=error.reason).inc()

    # --- batches -------------------------------------------------------------------------

    def _pending(self) -> bool:
        return (
            bool(self._offsets)
            or self.sink.pending() > 0
            or bool(self._dead)
            or self._flight is not None
        )

    def _due(self) -> bool:
        if self._batch_started is None:
            return False
        age = time.monotonic() - self._batch_started
        idle = self.policy.idle_seconds
        return (
            self.sink.pending() + len(self._dead) >= self.policy.max_records
            or self.sink.pending_bytes() >= self.policy.max_bytes
            or age >= self.policy.max_seconds
            # Only once caught up with the broker (_poll): an emptied local buffer alone (50
            # records on the clean worker) closed index batches after 0.25 s under full load.
            or (idle is not None and self._caught_up and not self._buffer and age >= idle)
        )

    def _flush_and_commit(self, final: bool = False) -> None:
        """Makes the batch in hand durable (retrying transient failures), then commits it.

        The flush runs in a thread (consumers.inflight) while this one answers the group. A
        sink that can detach its batch is committed when that lands (``_land``) and this
        thread reads the next batch meanwhile; the previous batch must land first. Any other
        sink, and the last batch before the worker leaves (``final``), is waited for here.
        """
        self._land(wait=True)
        if not self._pending():
            return
        detach = isinstance(self.sink, Detachable) and not final
        sink = cast(Detachable, self.sink).detach() if detach else self.sink
        # Revocations so far drop their partitions here; later ones, from the flight (_land).
        self._apply_revocations()
        batch = Batch(sink, self._dead, self._offsets, time.monotonic())
        self._dead, self._offsets, self._batch_started = [], {}, None
        self._flight = Flight(batch, self.dlq, self.name)
        if not detach:
            # The sink keeps taking records: this batch must land before the next is read.
            self._land(wait=True)

    def _land(self, wait: bool = False) -> None:
        """Commits the batch in flight if it landed; with ``wait``, waits until it has,
        answering the group meanwhile (its partitions paused: nothing new is fetched)."""
        flight = self._flight
        if flight is None:
            return
        while not flight.landed(timeout=0.2 if wait else 0.0):
            self.liveness.waiting_downstream(flight.waiting is not None)
            if not wait:
                return
            if self._stopping and flight.waiting is not None and not flight.aborted:
                # Asked to stop while downstream is away: the batch cannot land, and waiting
                # for the outage to end ignored SIGTERM for as long as it lasted (a worker
                # still retrying 20 min after it). Uncommitted, the batch replays.
                log.warning(
                    "%s: stopping while downstream is unavailable (%s); the batch in hand "
                    "is not committed and will replay",
                    self.name,
                    flight.waiting,
                )
                flight.abort()
            self._keep_membership()
        self._apply_revocations()  # drops revoked partitions from the flight's offsets too
        self._flight = None
        self.liveness.waiting_downstream(False)
        batch = flight.batch
        self.stats.retries += batch.retries
        self.metrics.retries.inc(batch.retries)
        for record, error in batch.rejected:
            self._count_dead(record, error)
        if flight.flushed:
            self._committed(self._held_back(batch.offsets), batch.started)
            self._rest()

    def _holding(self) -> bool:
        """Whether the sink still holds records unfinished (a fetch window not yet empty)."""
        return isinstance(self.sink, Holding) and self._pending()

    def _held_back(self, offsets: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """What of a landed batch's ``offsets`` may be committed: with a sink that holds
        records unfinished across flushes, each partition up to its first unfinished record.
        The rest waits in ``_offsets`` for a later flush (which is due within max_seconds)."""
        held = self.sink.held() if isinstance(self.sink, Holding) else {}
        ready: dict[TopicPartition, int] = {}
        for tp, offset in offsets.items():
            first = held.get(tp)
            if first is None or first >= offset:
                ready[tp] = offset
                continue
            ready[tp] = first
            self._offsets[tp] = max(self._offsets.get(tp, 0), offset)
            if self._batch_started is None:
                self._batch_started = time.monotonic()
        return ready

    def _rest(self) -> None:
        """Pauses the partitions a flush sent its whole batch back to, if the sink says so.

        Until the first record sent back is due when nothing lies ahead on the partition but
        those records. Otherwise (records unread before them, in the buffer or at the broker,
        may be due) for at most ``UNSEEN_REST_SECONDS``: a partition holding many records
        that are not due is read through a batch at a time, each batch going back, instead
        of in a tight loop, and a due record behind them waits that long a batch.
        """
        rest = self.sink.rest() if isinstance(self.sink, Resting) else None
        if rest is None or rest.seconds <= 0:
            return
        assigned = self.consumer.assignment()
        tps = [tp for tp in rest.sent_back if tp in assigned]
        if not tps:
            return
        buffered = {TopicPartition(r.topic, r.partition) for r in self._buffer}
        try:
            ends: dict[TopicPartition, int] = self.consumer.end_offsets(tps)
            ahead = {tp: ends[tp] - self.consumer.position(tp) for tp in tps}
        except KafkaError as exc:  # read on: the records come back and go back once more
            log.debug("%s: no end offsets to rest on (%s)", self.name, exc)
            return
        now = time.monotonic()
        long_rest = []
        for tp in tps:
            if tp not in buffered and ahead[tp] <= rest.sent_back[tp]:
                self._resting[tp] = (now + rest.seconds, ends[tp])
                long_rest.append(f"{tp.topic}[{tp.partition}]")
            else:
                self._resting[tp] = (now + min(rest.seconds, UNSEEN_REST_SECONDS), ends[tp])
        self.consumer.pause(*tps)
        if long_rest:
            log.info(
                "%s: nothing due on %s for %.0f s; reading the other partitions meanwhile",
                self.name,
                sorted(long_rest),
                rest.seconds,
            )

    def _wake_rested(self) -> None:
        """Ends the rest of partitions whose time came or on which anything new arrived
        (their end offsets are asked at most once a second); ``_poll`` resumes them."""
        if not self._resting:
            return
        now = time.monotonic()
        woken = {tp for tp, (until, _) in self._resting.items() if until <= now}
        if now - self._rest_checked >= 1.0:
            self._rest_checked = now
            try:
                ends: dict[TopicPartition, int] = self.consumer.end_offsets(list(self._resting))
            except KafkaError as exc:
                log.debug("%s: end offsets unknown (%s)", self.name, exc)
                ends = {}
            woken |= {tp for tp, (_, end) in self._resting.items() if ends.get(tp, end) > end}
        for tp in woken:
            del self._resting[tp]

    def _committed(self, offsets: dict[TopicPartition, int], started: float) -> None:
        """Commits the offsets of a batch that is durable, flushed since ``started``."""
        # The commit carries who made it and when: `newsflow status` shows each worker's last
        # progress from it, with no other bookkeeping.
        stamp = json.dumps({"worker": self.worker_id, "at": round(time.time(), 1)})
        self.stats.flushes += 1
        if offsets:
            self._commit({tp: OffsetAndMetadata(off, stamp, -1) for tp, off in offsets.items()})
        self.metrics.batch_seconds.observe(time.monotonic() - started)
        self.liveness.progressed()

    def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Commits; a commit refused mid-rebalance is kept and tried again with the next one.

        Dropping it would be safe for partitions that move (their new owner replays from the
        last commit) but not for those this worker keeps through a cooperative rebalance: with
        no newer record on them, their committed offset would stay behind for good.
        """
        try:
            self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.info("%s: commit refused (%s); trying again with the next batch", self.name, exc)
            for tp, meta in offsets.items():
                self._offsets[tp] = max(self._offsets.get(tp, 0), meta.offset)
            if self._batch_started is None:
                self._batch_started = time.monotonic()

    def _final_commit(self, attempts: int = 20) -> None:
        """Flushes and commits before leaving, waiting out a rebalance in progress if need be."""
        for _ in range(attempts):
            self._flush_and_commit(final=True)
            if not self._offsets:
                return
            self._sleep_in_group(0.5)  # the group is rebalancing: answer it, then try again
        log.warning(
            "%s: leaving with offsets not committed for %s; those records will replay",
            self.name,
            sorted(f"{tp.topic}[{tp.partition}]" for tp in self._offsets),
        )

    def _sleep_in_group(self, seconds: float) -> None:
        """Waits out a retry delay while still answering the group (nothing new is fetched).

        Also while stopping: the final commit after SIGTERM is what waits here. Returning at
        once when stopping made its 20 attempts within a millisecond, so a worker stopped
        while its group rebalanced (a rolling restart, another worker joining) always left
        "with offsets not committed" and its last batch replayed. A third signal still ends
        the wait (KeyboardInterrupt).
        """
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self._keep_membership()
            time.sleep(min(0.2, max(0.0, until - time.monotonic())))

    # --- drained and live ----------------------------------------------------------------

    def _lag(self, assigned: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        tps = list(assigned)
        if not tps:
            return {}
        ends: dict[TopicPartition, int] = self.consumer.end_offsets(tps)
        return {tp: max(0, ends.get(tp, 0) - self.consumer.position(tp)) for tp in tps}

    def _drained(self) -> bool:
        assigned = self.consumer.assignment()
        if not assigned or self._buffer:
            return False
        return not any(self._lag(assigned).values())

    def _check_liveness(self) -> None:
        """Every few seconds: measures lag and asks the liveness check to judge it."""
        if not self.liveness.check_due():
            return
        assigned = self.consumer.assignment()
        try:
            lag = self._lag(assigned)
        except KafkaError as exc:
            log.debug("%s: lag unknown (%s)", self.name, exc)
            return
        for tp, n in lag.items():
            self.metrics.lag.labels(partition=str(tp.partition)).set(n)
        # A resting partition's records wait by design (Rest): not a stall.
        waiting = sum(n for tp, n in lag.items() if tp not in self._resting)
        self.liveness.judge(
            assigned=sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned),
            lag=waiting + len(self._buffer),
        )
