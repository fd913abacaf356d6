"""Kafka clients built from the settings.

Callers own the clients they make (and close them); nothing here keeps a module-level client.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from kafka.coordinator.consumer import ConsumerCoordinator
from kafka.partitioner.default import DefaultPartitioner
from kafka.structs import TopicPartition

from newsflow.settings import KafkaSettings, Settings


def security_options(kafka: KafkaSettings) -> dict[str, Any]:
    """The security options of the cluster, in kafka-python's names (only those that are set).

    The local Airflow's connection (newsflow.airflow_local) translates these same options for
    confluent-kafka, so the two clients always log in alike.
    """
    opts: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.sasl_mechanism:
        opts["sasl_mechanism"] = kafka.sasl_mechanism
        opts["sasl_plain_username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            opts["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    if kafka.ssl_cafile:
        opts["ssl_cafile"] = kafka.ssl_cafile
    return opts


def kafka_common(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by every Kafka client."""
    return {
        "bootstrap_servers": settings.kafka.bootstrap_servers.split(","),
        "client_id": settings.kafka.client_id,
        # kafka-python backs off reconnects exponentially up to 30 s by default: after a 5 s
        # broker restart, workers sat idle another 20-28 s (soak log). 5 s caps that wait and
        # is still far from a reconnect storm.
        "reconnect_backoff_max_ms": 5000,
        **security_options(settings.kafka),
    }


class ByHost(DefaultPartitioner):  # type: ignore[misc]
    """Puts every message keyed by a URL of one host on one partition (others as usual).

    The links topic is keyed by URL; partitioned by host, all of a host's links (new, retried
    or replayed) reach the same fetch worker, so its per-host politeness limits hold for the
    whole group, not per worker. Keys that are not URLs (article ids) hash as before.
    """

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        if serialized_key and b"://" in serialized_key[:16]:
            host = urlsplit(serialized_key.decode("utf-8", "replace")).hostname or ""
            serialized_key = host.encode()
        partition: int = super().partition(
            topic, key, serialized_key, value, serialized_value, cluster
        )
        return partition


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A producer that waits for all in-sync replicas, so an acknowledged send is durable."""
    opts: dict[str, Any] = {
        **kafka_common(settings),
        "acks": "all",
        "retries": 5,
        "linger_ms": 5,
        "compression_type": None
        if settings.kafka.compression == "none"
        else settings.kafka.compression,
        "max_request_size": settings.limits.max_message_bytes,
        "partitioner": ByHost(),
    }
    opts.update(overrides)
    return KafkaProducer(**opts)


def _count_a_join_in_flight_as_rejoining() -> None:
    """Works around a kafka-python 3.0.12 bug that leaves a consumer without partitions forever.

    ``join_group_async`` loops ``while self.need_rejoin()``, and a ``poll()`` whose timeout
    expires mid-join leaves the join task in flight for the next poll to await. But the group
    leader's ``_perform_assignment`` records the metadata it assigned from, which makes
    ``need_rejoin()`` False *before* the SyncGroup answer is processed; the next poll then
    skips the loop, the answer is never applied, heartbeats stay disabled, the broker drops
    the member and the consumer spins in ``poll()`` with no partitions (docs/streaming.md has
    the log). Java's client loops while "rejoin needed *or pending*"; this restores the
    "pending" half. Reproduced here on about one fresh group in four with ``poll(0)``.
    """
    if not kafka.__version__.startswith("3.0."):
        return
    original: Callable[[ConsumerCoordinator], bool] = ConsumerCoordinator.need_rejoin
    if getattr(original, "_newsflow_pending_join", False):
        return

    def need_rejoin(self: ConsumerCoordinator) -> bool:
        # ``rejoining`` is set when a join starts and cleared only once its result is applied.
        return bool(self.rejoining) or original(self)

    need_rejoin._newsflow_pending_join = True  # type: ignore[attr-defined]
    ConsumerCoordinator.need_rejoin = need_rejoin
    ConsumerCoordinator._join_task = property(_get_join_task, _set_join_task)


class _JoinInFlight:
    """The coordinator's cached JoinGroup->SyncGroup task, seen as unfinished until consumed.

    kafka-python 3.0.12 runs the join on its IO thread and ``join_group_async`` starts a new
    JoinGroup whenever the cached task ``is_done`` -- also when it *succeeded* while no poll was
    awaiting it (the caller's poll timed out, the caller went on working). The won assignment is
    thrown away and the new JoinGroup starts another generation; a caller that polls briefly
    between pieces of work (a worker committing before it leaves, or handling records while a
    rebalance runs) rejoins for ever: 12+ generations in 10 s with ``poll(0)`` every 0.5 s
    (tests/integration/test_kafka_client.py). Seen as not done, a succeeded task is awaited by
    the next poll, which returns its assignment at once; a failed one is still replaced.
    """

    __slots__ = ("task",)

    def __init__(self, task: Any) -> None:
        self.task = task

    @property
    def is_done(self) -> bool:
        return bool(self.task.failed())

    def add_callback(self, f: Any, *args: Any, **kwargs: Any) -> Any:
        return self.task.add_callback(f, *args, **kwargs)

    def add_errback(self, f: Any, *args: Any, **kwargs: Any) -> Any:
        return self.task.add_errback(f, *args, **kwargs)

    def __await__(self) -> Any:
        return self.task.__await__()


def _get_join_task(self: ConsumerCoordinator) -> _JoinInFlight | None:
    task = self.__dict__.get("_newsflow_join_task")
    return None if task is None else _JoinInFlight(task)


def _set_join_task(self: ConsumerCoordinator, task: Any) -> None:
    self.__dict__["_newsflow_join_task"] = task


def rebalancing(consumer: KafkaConsumer) -> bool:
    """True while the consumer is between a JoinGroup and the assignment it brings."""
    return bool(getattr(consumer._coordinator, "rejoining", False))


def resume(consumer: KafkaConsumer, partitions: Iterable[TopicPartition]) -> None:
    """Resumes ``partitions`` so that they are read again, records fetched before the pause
    included.

    kafka-python 3.0 parks the records it had fetched for a partition that is paused
    (KAFKA-7548) and fetches nothing more for it until they are handed back, which it does
    only when its in-line slot is empty (None). A fetch of other partitions leaves a spent
    record set in that slot (empty, so false, but not None), so when one partition stayed
    paused while the others were read, it was never read again: its parked records stayed
    parked for good. A spent record set is worth nothing; clearing the slot lets the parked
    records be handed back on the next poll.
    """
    tps = list(partitions)
    if tps:
        consumer.resume(*tps)
    fetcher = consumer._fetcher
    spent = getattr(fetcher, "_next_partition_records", None)
    if spent is not None and not spent and getattr(fetcher, "_paused_partition_records", None):
        fetcher._next_partition_records = None


def caught_up(consumer: KafkaConsumer) -> bool:
    """True when every assigned partition's records, up to its last fetched high watermark,
    have been handed to the application.

    Read from the client's own partition state (kafka-python 3.0 keeps the position of the
    next record to return and the high watermark of the latest fetch response per partition;
    there is no public call that reads both without a network round trip: ``position()``
    refreshes committed offsets first). Unknown (no fetch answered yet) counts as behind.
    """
    states = consumer._subscription.assignment
    if not states:
        return False
    for state in states.values():
        position, highwater = state.position, state.highwater
        if position is None or highwater is None or position.offset < highwater:
            return False
    return True


def group_instance_id(settings: Settings, stage: str) -> str | None:
    """The static member id of this worker (``kafka.group_instance_id`` filled in), if any."""
    template = settings.kafka.group_instance_id
    if not template:
        return None
    return template.format(hostname=socket.gethostname(), stage=stage)


def assignors(group_instance_id: str | None) -> tuple[type, ...]:
    """How a group shares its partitions: cooperative for dynamic members, eager for static.

    Cooperative rebalancing moves only the partitions that change owner, in two rounds: the
    owner revokes them, then rejoins so that a second round hands them on. A static member
    killed between the two rounds breaks that: restarted under the same
    ``group.instance.id`` it gets its cached assignment back without a rebalance (that is
    what static membership is for), the second round never comes, and the revoked
    partitions stay without an owner for good (seen in the soak: a clean worker without
    partitions for minutes while three had no owner; reproduced against the real broker by
    tests/integration/test_kafka_client.py). The eager sticky assignor hands every partition
    out in one round, and restarts of static members cause no rebalance at all, so what
    cooperative rebalancing saves matters less there.
    """
    if group_instance_id:
        return (StickyPartitionAssignor,)
    return (CooperativeStickyAssignor,)


def heartbeat_interval_ms(session_timeout_ms: int) -> int:
    """How often a group member heartbeats: every second (a third of the shortest session).

    A member learns that the group is rebalancing from its next heartbeat's answer, and a
    worker joining a running group waits for two such rounds (the cooperative protocol
    revokes first, then assigns): with the client's 3 s default, a second clean worker got
    its partitions 6.6 s after the first, with 1 s 3.3–3.6 s (`newsflow run --workers 2`,
    three starts each, 2026-12-04), seconds of a core left idle at every start and scale-out.
    A beat a second per member is nothing to the broker beside the fetches and commits.
    """
    return min(1_000, session_timeout_ms // 3)


def make_consumer(settings: Settings, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer with auto-commit off: loops commit only after the downstream write succeeded."""
    opts: dict[str, Any] = {
        **kafka_common(settings),
        "group_id": group_id,
        "session_timeout_ms": settings.kafka.session_timeout_ms,
        # At most a third of the session, as Kafka advises: the client's fixed 3 s left a
        # short session (6 s, the lowest the settings allow) two heartbeats, one late
        # answer from a busy host from being dropped, and every consumer made logged a
        # warning about it (each `newsflow status` and worker start, in the worker's log).
        "heartbeat_interval_ms": heartbeat_interval_ms(settings.kafka.session_timeout_ms),
        "max_poll_interval_ms": settings.kafka.max_poll_interval_ms,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 200,
        # What one fetch may bring: the client keeps fetched bytes (and their decoded
        # records) in memory until the loop takes them. The defaults (50 MB, and a partition
        # as large as the largest message) held ~170 MB in a clean worker reading HTML pages
        # at its pace (its peak RSS 207-216 MB); at these sizes a fetch still brings ~500
        # index documents, and a message larger than them still comes whole (brokers return
        # the first batch of a fetch whatever its size, KIP-74).
        "fetch_max_bytes": 8_388_608,
        "max_partition_fetch_bytes": 2_097_152,
        "partition_assignment_strategy": assignors(overrides.get("group_instance_id")),
    }
    opts.update(overrides)
    _count_a_join_in_flight_as_rejoining()
    return KafkaConsumer(**opts)


#: fetch.min.bytes of a consumer that gathers (``fetch_gathering``): more than a fetch of
#: finished articles holds under a backlog, so only the wait ends a fetch of a live stream.
GATHER_MIN_BYTES = 1_048_576


def fetch_gathering(wait_ms: int) -> dict[str, Any]:
    """Consumer options that let the broker hold a fetch up to ``wait_ms`` to gather records.

    Kafka answers a fetch as soon as ``fetch_min_bytes`` are there or ``fetch_max_wait_ms``
    has passed. With the client's default of one byte, a worker that keeps up with its topic
    gets each record in its own fetch, and pays the fetch, the poll and the batch for each;
    waiting a little gathers several, at the price of that wait in latency. 0 keeps the
    defaults.
    """
    if wait_ms <= 0:
        return {}
    return {"fetch_min_bytes": GATHER_MIN_BYTES, "fetch_max_wait_ms": wait_ms}


def make_admin(settings: Settings, **overrides: Any) -> KafkaAdminClient:
    """An admin client for creating and describing topics."""
    return KafkaAdminClient(**{**kafka_common(settings), **overrides})
