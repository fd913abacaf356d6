"""The Kafka client as newsflow makes it, against the real broker: joining a group always ends
with partitions, however the caller polls.

kafka-python 3.0.12 loses a join whose SyncGroup answer arrives after ``poll()``'s timeout
when the member leads the group and the topic's metadata came in mid-join (a brand-new topic):
the consumer then sits without partitions forever. newsflow.kafka.clients works around it;
without the workaround about one fresh group in four stays empty here (measured 3 of 12), so
ten in a row all getting their partitions fails on the unpatched client nine times in ten and
never on the patched one.

Static members (a stable ``group.instance.id`` per worker slot, as compose and the soak run
them) use the eager sticky assignor, not the cooperative one: a static member killed between
the two rounds of a cooperative rebalance comes back to its cached assignment, the second
round never happens, and the partitions it revoked have no owner for good.

The same client throws away a join that succeeded while no poll was waiting for it and starts
another generation; a caller that polls briefly between longer pieces of work never gets its
partitions. The workaround keeps a finished join for the next poll to apply.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from test_pipeline import settings_env

from newsflow.kafka.clients import caught_up, make_consumer, make_producer
from newsflow.kafka.groups import GroupState, describe_group, remove_static_member
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import Settings

MEMBER = Path(__file__).resolve().parents[1] / "group_member.py"

pytestmark = pytest.mark.integration


def test_fresh_groups_polled_with_zero_timeouts_all_get_their_partitions(
    stack: Any, settings: Settings
) -> None:
    for attempt in range(10):
        topics = settings.topics.model_copy(
            update={"raw": f"{settings.topics.raw}-{attempt}", "partitions": 6}
        )
        fresh = settings.model_copy(update={"topics": topics})
        ensure_topics(fresh)  # created just before the member joins, as a new deployment does
        consumer = make_consumer(fresh, f"{settings.groups.clean}-{attempt}")
        try:
            consumer.subscribe([fresh.topics.raw])
            deadline = time.monotonic() + 60
            while not consumer.assignment() and time.monotonic() < deadline:
                consumer.poll(timeout_ms=0)
                time.sleep(0.01)
            assert len(consumer.assignment()) == 6, f"attempt {attempt}: no partitions in 60 s"
        finally:
            consumer.close()


def test_a_join_that_finishes_between_polls_is_applied_not_restarted(
    stack: Any, settings: Settings
) -> None:
    """poll(0), then other work (here a sleep) while the join runs on the client's IO thread.

    Unpatched, every join completes between two polls, is discarded, and the member rejoins
    for ever (seen as dozens of generations and no partitions after 60 s).
    """
    topics = settings.topics.model_copy(update={"raw": f"{settings.topics.raw}-gap"})
    fresh = settings.model_copy(update={"topics": topics})
    ensure_topics(fresh)
    consumer = make_consumer(fresh, f"{settings.groups.clean}-gap")
    try:
        consumer.subscribe([fresh.topics.raw])
        deadline = time.monotonic() + 60
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=0)
            time.sleep(0.5)  # longer than a join takes on a local broker
        assert len(consumer.assignment()) == fresh.topics.partitions, "no partitions in 60 s"
        generation = consumer._coordinator._generation.generation_id
        assert generation <= 3, f"{generation} generations for one member"
    finally:
        consumer.close()


def test_caught_up_once_every_fetched_record_is_handed_over(stack: Any, settings: Settings) -> None:
    """What lets a batch close before max_seconds under a steady trickle (consumers/loop.py):
    not "the poll was empty" but "nothing the fetches saw is left behind"."""
    topics = settings.topics.model_copy(
        update={"raw": f"{settings.topics.raw}-hw", "partitions": 1}
    )
    fresh = settings.model_copy(update={"topics": topics})
    ensure_topics(fresh)
    producer = make_producer(fresh)
    for n in range(5):
        producer.send(fresh.topics.raw, key=b"k", value=str(n).encode())
    producer.flush()
    producer.close()
    consumer = make_consumer(fresh, None)
    tp = TopicPartition(fresh.topics.raw, 0)
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        assert not caught_up(consumer), "no fetch answered yet: unknown counts as behind"
        taken: list[int] = []
        deadline = time.monotonic() + 30
        while not taken and time.monotonic() < deadline:
            taken += [r.offset for r in consumer.poll(timeout_ms=500, max_records=2).get(tp, [])]
        assert taken == [0, 1]
        assert consumer.highwater(tp) == 5
        assert not caught_up(consumer), "3 fetched records not handed over yet"
        while len(taken) < 5 and time.monotonic() < deadline:
            taken += [r.offset for r in consumer.poll(timeout_ms=500, max_records=2).get(tp, [])]
        assert taken == [0, 1, 2, 3, 4]
        assert caught_up(consumer)
    finally:
        consumer.close()


def _member(settings: Settings, instance: str, *flags: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(MEMBER), settings.topics.raw, settings.groups.clean, instance, *flags],
        env=settings_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _state(settings: Settings) -> GroupState:
    return describe_group(settings, settings.groups.clean, settings.topics.raw)


def _wait(what: str, condition: Callable[[GroupState], bool], settings: Settings) -> GroupState:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = _state(settings)
        if condition(state):
            return state
        time.sleep(0.5)
    pytest.fail(f"timed out after 120 s waiting for {what}: {_state(settings)}")


def _holdings(state: GroupState) -> list[int]:
    return sorted(len(m.partitions) for m in state.members)


def _all_owned_by_two(state: GroupState) -> bool:
    return state.state == "Stable" and _holdings(state) == [3, 3]


def _stop(members: list[subprocess.Popen[bytes]]) -> None:
    for m in members:
        if m.poll() is None:
            m.send_signal(signal.SIGTERM)
    for m in members:
        try:
            m.wait(timeout=60)
        except subprocess.TimeoutExpired:
            m.kill()


def _killed_mid_rebalance(settings: Settings, *flags: str) -> list[subprocess.Popen[bytes]]:
    """a holds all six partitions; b joins; a dies as it gives some up; a restarts."""
    ensure_topics(settings)
    first = _member(settings, "a", "--die-on-revoke", *flags)
    members = [first]
    _wait("a to hold all six partitions", lambda s: _holdings(s) == [6], settings)
    members.append(_member(settings, "b", *flags))
    assert first.wait(timeout=120) == 9, "a was not asked to give up partitions"
    members.append(_member(settings, "a", *flags))
    return members


def test_a_static_member_killed_mid_rebalance_strands_no_partition(
    stack: Any, settings: Settings
) -> None:
    """As newsflow makes static members: the group ends with every partition owned."""
    members = _killed_mid_rebalance(settings)
    try:
        _wait("a and b to own three partitions each", _all_owned_by_two, settings)
    finally:
        _stop(members)


def test_a_stranded_static_member_removed_from_its_group_gets_partitions(
    stack: Any, settings: Settings
) -> None:
    """The trap the eager assignor avoids, and the way out a worker that gives up takes.

    With the cooperative assignor, a's restart gets back the three partitions it kept, b keeps
    its empty assignment and three partitions have no owner (b's liveness check gives up on
    that: consumers.health). Removing b by its instance id makes the group rebalance.
    """
    members = _killed_mid_rebalance(settings, "--cooperative")
    try:
        stranded = _wait(
            "a to come back to its three partitions",
            lambda s: s.state == "Stable" and sum(_holdings(s)) >= 3 and len(s.members) == 2,
            settings,
        )
        assert _holdings(stranded) == [0, 3] and len(stranded.unowned) == 3, stranded
        remove_static_member(settings, settings.groups.clean, "b", "test: stranded")
        _wait("the group to hand b the unowned partitions", _all_owned_by_two, settings)
    finally:
        _stop(members)


def test_a_consumer_with_the_shortest_session_joins_without_the_heartbeat_warning(
    stack: Any, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Session 6 s (the lowest allowed) with the client's fixed 3 s heartbeat was two beats a
    session, and a warning in every log that made a consumer; a beat a second is six."""
    short = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"session_timeout_ms": 6_000})}
    )
    ensure_topics(short)
    consumer = make_consumer(short, short.groups.clean)
    try:
        consumer.subscribe([short.topics.raw])
        deadline = time.monotonic() + 120
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=200)
        assert consumer.assignment(), "no partition within 120 s"
        assert consumer.config["heartbeat_interval_ms"] == 1_000
    finally:
        consumer.close()
    assert "heartbeat_interval_ms is high" not in caplog.text
