"""The streaming spine against the real Kafka and Elasticsearch: scale-out, stuck stages,
oversized dead letters and workers that give up.

Every wait here is on a condition with a generous deadline, never on a fixed idle window.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import newsflow_cli
import pytest
import yaml
from elasticsearch import Elasticsearch
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.consumer.fetcher import ConsumerRecord
from poison_stages import on_cue
from test_pipeline import (
    NEWSFLOW,
    committed_total,
    count,
    publish_raw,
    raw_article,
    settings_env,
)

from consumers.batches import BatchPolicy, LoopStats
from consumers.dlq import list_dead_letters, replay
from consumers.health import EXIT_STALLED, WorkerGaveUp
from consumers.loop import WorkerLoop
from consumers.runner import StageProcess
from consumers.sinks import DeadLetterWriter, KafkaSink, topic_sink
from consumers.workers import run_clean_worker, run_index_worker
from newsflow.enrichment.maintenance import replay_dead_letters
from newsflow.kafka.clients import make_admin, make_consumer, make_producer
from newsflow.kafka.groups import GroupState, describe_group, remove_static_member
from newsflow.kafka.topics import ensure_topics, message_limit
from newsflow.settings import Settings
from schemas import DeadLetter, RawArticle, Stage

pytestmark = pytest.mark.integration

GROUP_MEMBER = Path(__file__).resolve().parents[1] / "group_member.py"


def with_partitions(settings: Settings, partitions: int) -> Settings:
    topics = settings.topics.model_copy(update={"partitions": partitions})
    return settings.model_copy(update={"topics": topics})


def with_limits(settings: Settings, **limits: Any) -> Settings:
    return settings.model_copy(update={"limits": settings.limits.model_copy(update=limits)})


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 180.0) -> None:
    """Waits for ``condition`` (polled every 0.5 s); fails with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def shared_evenly(state: GroupState, members: int) -> bool:
    sizes = sorted(len(m.partitions) for m in state.members)
    total = len(state.partitions)
    return (
        state.state == "Stable"
        and len(sizes) == members
        and sum(sizes) == total
        and sizes[-1] - sizes[0] <= 1
    )


def start_worker(kind: str, settings: Settings, log: Path, **extra: Any) -> subprocess.Popen[bytes]:
    # A file, not a pipe: nobody reads a pipe while the worker runs, and a full one blocks it.
    with log.open("a") as out:
        return subprocess.Popen(
            [NEWSFLOW, "consume", kind],
            env=settings_env(settings, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_all(workers: list[subprocess.Popen[bytes]]) -> list[int]:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    codes = []
    for w in workers:
        try:
            codes.append(w.wait(timeout=120))
        except subprocess.TimeoutExpired:
            w.kill()
            codes.append(-9)
    return codes


def test_two_workers_share_the_partitions_evenly(
    stack: Any, settings: Settings, tmp_path: Path
) -> None:
    ensure_topics(settings)
    logs = [tmp_path / f"worker{n}.log" for n in range(2)]
    workers = [start_worker("clean", settings, log) for log in logs]
    try:
        wait_until(
            "both workers to own half the partitions each",
            lambda: shared_evenly(
                describe_group(settings, settings.groups.clean, settings.topics.raw), 2
            ),
        )
        publish_raw(
            settings,
            [(f"s{i}".encode(), raw_article(i).model_dump_json().encode()) for i in range(60)],
        )
        wait_until(
            "all 60 records to be committed",
            lambda: committed_total(settings, settings.groups.clean, settings.topics.raw) == 60,
        )
    finally:
        codes = stop_all(workers)
    assert codes == [0, 0], [log.read_text()[-3000:] for log in logs]
    consumed = []
    for log in logs:
        last = [line for line in log.read_text().splitlines() if line.startswith("clean: ")][-1]
        consumed.append(int(last.split()[1]))
    assert all(n > 0 for n in consumed), consumed
    assert sum(consumed) == 60  # shared, not duplicated


def test_a_worker_starting_alone_joins_its_group_once(stack: Any, settings: Settings) -> None:
    """One rebalance per worker start, not two. The member's coordinator notes the subscribed
    topic's partitions only from a metadata answer; the worker fetched the metadata before it
    subscribed, so the leader assigned from an empty note, and the next answer (a fraction
    of a second later) differed from it and set off a second rebalance: every member gave up
    its records in hand, and fetch workers fetched their pages in flight again."""
    ensure_topics(settings)
    # An empty topic: the worker is assigned, idles for 5 s (metadata answers come and go
    # while it polls), then exits on its own. A static member, as compose runs them: one
    # started twice in a row every time here, a dynamic one only now and then.
    done = subprocess.run(
        [NEWSFLOW, "consume", "index", "--until-idle", "5"],
        env=settings_env(settings, kafka_group_instance_id=f"{settings.groups.index}-0"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assigned = [line for line in out.splitlines() if "index: assigned " in line]
    assert len(assigned) == 1, out


@pytest.mark.parametrize("membership", ["dynamic", "static"])
def test_workers_joining_and_leaving_mid_run_lose_and_duplicate_nothing(
    stack: Any, settings: Settings, es: Elasticsearch, tmp_path: Path, membership: str
) -> None:
    """Static members rebalance eagerly: every partition is revoked, and those a worker gets
    back keep the client's fetch position, past the records the worker dropped from its
    buffer (it must seek back to them, or they are skipped)."""
    ensure_topics(settings)
    total = 600
    publish_raw(
        settings,
        [(f"j{i}".encode(), raw_article(i).model_dump_json().encode()) for i in range(total)],
    )

    def member(name: str) -> dict[str, str]:
        return {"kafka_group_instance_id": name} if membership == "static" else {}

    first = start_worker("clean", settings, tmp_path / "clean-a.log", **member("clean-a"))
    indexer = start_worker("index", settings, tmp_path / "index.log", **member("index-a"))
    workers = [first, indexer]
    try:
        wait_until("the first articles", lambda: _count(es, settings) >= 50)
        second = start_worker("clean", settings, tmp_path / "clean-b.log", **member("clean-b"))
        workers.append(second)
        wait_until(
            "the new worker to take its share",
            lambda: shared_evenly(
                describe_group(settings, settings.groups.clean, settings.topics.raw), 2
            ),
        )
        first.send_signal(signal.SIGTERM)  # a worker leaves mid-run
        assert first.wait(timeout=120) == 0
        wait_until("every article to be searchable", lambda: _count(es, settings) >= total, 300)
    finally:
        codes = stop_all(workers)
    assert codes[1:] == [0, 0]
    assert _count(es, settings) == total
    ids = {
        h["_id"]
        for h in es.search(
            index=settings.index.alias, size=total + 10, _source=False, query={"match_all": {}}
        )["hits"]["hits"]
    }
    assert ids == {f"test-{i:06d}" for i in range(total)}
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == total
    assert list_dead_letters(settings) == []


def _clean_loop(
    settings: Settings,
    producer: Any,
    sink: KafkaSink,
    handle: Callable[[ConsumerRecord], None],
    max_records: int,
    **consumer: Any,
) -> WorkerLoop:
    """A worker loop on the raw topic with ``handle`` as its stage, as the clean worker's."""
    return WorkerLoop(
        consumer=make_consumer(settings, settings.groups.clean, **consumer),
        topic=settings.topics.raw,
        handler=handle,
        sink=sink,
        dlq=DeadLetterWriter(
            producer, settings.topics.dead_letter, settings.limits.max_message_bytes
        ),
        policy=BatchPolicy(max_records=max_records, max_seconds=0.5),
        name="clean",
    )


def _clean_values(settings: Settings) -> list[bytes | None]:
    """Every value on the clean topic."""
    out = make_consumer(settings, None, consumer_timeout_ms=5000)
    try:
        out.subscribe([settings.topics.clean])
        return [r.value for r in out]
    finally:
        out.close()


def _second_member(settings: Settings) -> subprocess.Popen[bytes]:
    """A static member "second" joining the clean group (eager rebalancing)."""
    member = [settings.topics.raw, settings.groups.clean, "second"]
    return subprocess.Popen(
        [sys.executable, str(GROUP_MEMBER), *member],
        env=settings_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _run_through_churn(
    settings: Settings,
    loop: WorkerLoop,
    producer: Any,
    second: list[subprocess.Popen[bytes]],
    total: int,
) -> None:
    """Runs ``loop`` to idle while the churn moves the group; every record must come out once
    or more, and the committed offsets must cover exactly what came out."""
    try:
        stats = loop.run(idle_exit_seconds=5)
    finally:
        producer.close()
        for proc in second:
            proc.kill()
    assert stats.rebalances >= 2
    assert set(_clean_values(settings)) == {f"V{i}".encode() for i in range(total)}
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == total


def test_an_eager_rebalance_that_hands_partitions_back_skips_no_record(
    stack: Any, settings: Settings
) -> None:
    """A static worker (eager rebalancing) with records in its buffer: a second member joins,
    every partition is revoked and one comes back with the client's fetch position past the
    buffered records; then the second is removed and both come back. Every record must still
    come out once or more, and the committed offsets must cover exactly what came out."""
    settings = with_partitions(settings, 2)
    ensure_topics(settings)
    total = 300
    publish_raw(settings, [(f"e{i}".encode(), f"v{i}".encode()) for i in range(total)])
    producer = make_producer(settings)
    sink = KafkaSink(producer, settings.topics.clean, stage=Stage.CLEAN)
    handled: list[int] = []
    joined = threading.Event()
    second: list[subprocess.Popen[bytes]] = []

    def handle(record: ConsumerRecord) -> None:
        time.sleep(0.02)  # slow enough that the buffer holds records when the group moves
        sink.add(record.key, (record.value or b"").upper())
        handled.append(record.offset)
        if len(handled) == 40 and not joined.is_set():
            joined.set()
            threading.Thread(target=churn, daemon=True).start()

    def churn() -> None:
        second.append(_second_member(settings))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = describe_group(settings, settings.groups.clean, settings.topics.raw)
            if state.state == "Stable" and len(state.members) == 2:
                break
            time.sleep(0.2)
        second[0].kill()
        remove_static_member(settings, settings.groups.clean, "second", "test: churn")

    loop = _clean_loop(settings, producer, sink, handle, 20, group_instance_id="first")
    _run_through_churn(settings, loop, producer, second, total)
    assert joined.is_set()


class _GatedSink(KafkaSink):
    """A KafkaSink whose flush waits for ``gate``: a batch in flight while downstream is away."""

    def __init__(self, *args: Any, gate: threading.Event, flushing: threading.Event) -> None:
        super().__init__(*args)
        self.gate, self.flushing = gate, flushing

    def flush(self) -> list[tuple[ConsumerRecord, Any]]:
        self.flushing.set()
        assert self.gate.wait(120), "the churn never opened the gate"
        return super().flush()


def test_a_batch_in_flight_through_a_rebalance_that_hands_its_partitions_back_is_committed(
    stack: Any, settings: Settings
) -> None:
    """The tail of each partition is in a batch whose flush waits (downstream away) when the
    group rebalances eagerly and hands every partition back. Its offsets are no longer this
    worker's to commit, and no newer record comes to commit past them: the worker must read
    them again from the last commit, or its group's commit stays behind for good (soak runs
    whose lag never reached zero)."""
    settings = with_partitions(settings, 2)
    ensure_topics(settings)
    total = 40
    publish_raw(settings, [(f"g{i}".encode(), f"v{i}".encode()) for i in range(total)])
    producer = make_producer(settings)
    gate, flushing = threading.Event(), threading.Event()
    sink = _GatedSink(producer, settings.topics.clean, Stage.CLEAN, gate=gate, flushing=flushing)
    handled: list[int] = []
    second: list[subprocess.Popen[bytes]] = []

    def churn() -> None:
        try:
            assert flushing.wait(120)
            second.append(_second_member(settings))
            wait_until(
                "the second member to join",
                lambda: (
                    len(
                        describe_group(settings, settings.groups.clean, settings.topics.raw).members
                    )
                    == 2
                ),
                120,
            )
            second[0].kill()
            remove_static_member(settings, settings.groups.clean, "second", "test: churn")
            wait_until(
                "the first member to hold every partition again",
                lambda: shared_evenly(
                    describe_group(settings, settings.groups.clean, settings.topics.raw), 1
                ),
                120,
            )
        finally:
            gate.set()

    def handle(record: ConsumerRecord) -> None:
        sink.add(record.key, (record.value or b"").upper())
        handled.append(record.offset)

    threading.Thread(target=churn, daemon=True).start()
    loop = _clean_loop(settings, producer, sink, handle, total, group_instance_id="first")
    _run_through_churn(settings, loop, producer, second, total)


def _count(es: Elasticsearch, settings: Settings) -> int:
    if not es.indices.exists_alias(name=settings.index.alias):
        return 0
    return count(es, settings)


def test_a_worker_stopped_during_a_rebalance_commits_its_last_batch(
    stack: Any, settings: Settings
) -> None:
    """SIGTERM (``stop``) just after another member joined: the client refuses commits
    (RebalanceInProgress) until this worker rejoins, which takes a poll. The final commit
    made its 20 attempts within a millisecond, never polling, and left "with offsets not
    committed" (seen with index workers joining and leaving)."""
    settings = with_partitions(settings, 1)
    ensure_topics(settings)
    publish_raw(settings, [(None, b"first"), (None, b"second"), (None, b"last")])
    producer = make_producer(settings)
    sink = KafkaSink(producer, settings.topics.clean, stage=Stage.CLEAN)
    joiner = make_consumer(settings, settings.groups.clean)
    done = threading.Event()

    def join() -> None:  # a second member that polls, so the rebalance can complete
        joiner.subscribe([settings.topics.raw])
        while not done.is_set():
            joiner.poll(timeout_ms=100)

    thread = threading.Thread(target=join, daemon=True)
    loop: WorkerLoop | None = None

    def handle(record: ConsumerRecord) -> None:
        sink.add(record.value or b"", (record.value or b"").upper())
        if record.value == b"last":
            assert loop is not None
            thread.start()
            wait_until(
                "the other member to join",
                lambda: (
                    describe_group(settings, settings.groups.clean, settings.topics.raw).state
                    == "PreparingRebalance"
                ),
                120,
            )
            # The loop's own group duty between records (a poll, partitions paused) starts
            # this worker's rejoin; until it completes, the client refuses commits.
            coordinator = loop.consumer._coordinator
            deadline = time.monotonic() + 120
            while not coordinator.rebalance_in_progress() and time.monotonic() < deadline:
                loop._keep_membership()
            assert coordinator.rebalance_in_progress()
            loop.stop()  # what SIGTERM does

    loop = _clean_loop(settings, producer, sink, handle, 10)
    try:
        stats = loop.run()
    finally:
        done.set()
        if thread.is_alive():
            thread.join(timeout=30)
        joiner.close()
        producer.close()
    assert stats.consumed == 3
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == 3


def test_a_worker_stopped_while_its_join_is_held_exits_without_waiting_for_the_join(
    stack: Any, settings: Settings, tmp_path: Path
) -> None:
    """A member SIGKILLed (its session not expired) holds the next rebalance: the broker keeps
    a joining worker's JoinGroup until then, and answers the LeaveGroup the worker sends on
    SIGTERM only after it (one connection's requests are answered in order). The worker
    logged "SIGTERM received" and sat in consumer.close() for the client's 30 s request
    timeout (py-spy: KafkaConsumer.close -> maybe_leave_group). Here the dead member's
    session is 90 s, so the join is held far longer than the worker may take to go."""
    ensure_topics(settings)
    dead = start_worker("index", settings, tmp_path / "dead.log", kafka_session_timeout_ms=90_000)
    try:
        wait_until(
            "the first worker to own the partitions",
            lambda: shared_evenly(
                describe_group(settings, settings.groups.index, settings.topics.clean), 1
            ),
        )
    finally:
        dead.kill()
        dead.wait()
    log = tmp_path / "joiner.log"
    joiner = start_worker("index", settings, log)
    try:
        wait_until(
            "the joiner's join to be held for the dead member",
            lambda: (
                describe_group(settings, settings.groups.index, settings.topics.clean).state
                == "PreparingRebalance"
            ),
            60,
        )
        joiner.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = joiner.wait(timeout=60)
        took = time.monotonic() - signalled
    finally:
        if joiner.poll() is None:
            joiner.kill()
            joiner.wait()
    text = log.read_text()
    assert code == 0, text
    assert "SIGTERM received" in text and "stopped after 0 records" in text, text
    # The join stays held until the dead member's session ends, 90 s after it died: the
    # group still waiting for it now shows the worker left without waiting for the join.
    assert describe_group(settings, settings.groups.index, settings.topics.clean).state == (
        "PreparingRebalance"
    )
    # Not a speed check but the deployment's contract: past its stop grace period the
    # container is SIGKILLed (the bug sat the client's whole 30 s request timeout; the
    # worker now waits LEAVE_GROUP_TIMEOUT_MS, 5 s, for the answer).
    grace = _stop_grace_seconds("index")
    assert took < grace, f"{took:.1f} s from SIGTERM to exit, past the {grace:g} s grace:\n{text}"


def _stop_grace_seconds(service: str) -> float:
    """docker-compose.yml's stop_grace_period of a service, in seconds ("30s")."""
    compose = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    )
    period = str(compose["services"][service]["stop_grace_period"])
    assert period.endswith("s") and period[:-1].isdigit(), period
    return float(period[:-1])


def _run_stage_until_idle(settings: Settings, stage: StageProcess) -> LoopStats:
    """A clean worker's loop around ``stage`` over the raw topic until it is idle for 1 s;
    the stage child and the producer are closed afterwards."""
    producer = make_producer(settings)
    sink = KafkaSink(producer, settings.topics.clean, stage=Stage.CLEAN)

    def handle(record: ConsumerRecord) -> None:
        key, value = stage.run(record.value or b"")
        sink.add(key, value)

    loop = _clean_loop(settings, producer, sink, handle, 10)
    try:
        return loop.run(idle_exit_seconds=1)
    finally:
        stage.close()
        producer.close()


def test_a_stage_hung_in_c_code_does_not_block_its_partition(
    stack: Any, settings: Settings
) -> None:
    """The stage hangs inside one C call (no signal handler can run); its child is killed."""
    settings = with_partitions(settings, 1)
    ensure_topics(settings)
    values = [b"first", b"hang-in-c here", b"second", b"crash here", b"third"]
    publish_raw(settings, [(None, v) for v in values])
    stage = StageProcess(on_cue, timeout=2.0, stage=Stage.CLEAN)
    stats = _run_stage_until_idle(settings, stage)
    assert stats.consumed == 5
    letters = list_dead_letters(settings)
    assert sorted(d.error_type for d in letters) == ["stage_crashed", "timeout"]
    assert {d.original for d in letters} == {b"hang-in-c here", b"crash here"}
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == 5
    assert sorted(_clean_values(settings)) == [b"FIRST", b"SECOND", b"THIRD"]


def test_a_stage_that_allocates_without_end_is_capped_and_dead_lettered(
    stack: Any, settings: Settings
) -> None:
    """A message that makes the stage allocate 3 GB: its child had no memory cap, so the
    message went through (or, with a real parser and no end, the host ran out of memory and
    the OOM killer chose among the worker, Kafka and Elasticsearch)."""
    settings = with_partitions(settings, 1)
    ensure_topics(settings)
    publish_raw(settings, [(None, v) for v in (b"first", b"hog here", b"second")])
    stage = StageProcess(on_cue, timeout=60.0, stage=Stage.CLEAN, memory_limit=1024 * 2**20)
    stats = _run_stage_until_idle(settings, stage)
    assert stats.consumed == 3
    (letter,) = list_dead_letters(settings)
    assert (letter.error_type, letter.original) == ("out_of_memory", b"hog here")
    assert "1024 MB" in letter.error_message
    assert stage.restarts == 1  # the message after it got a fresh child
    assert sorted(_clean_values(settings)) == [b"FIRST", b"SECOND"]


def test_a_page_slower_than_the_limit_is_dead_lettered_as_timeout(
    stack: Any, settings: Settings, es: Elasticsearch
) -> None:
    """A real page that keeps the cleaner busy for seconds: killed at the limit.

    One table row of 49,000 cells (under MAX_ELEMENTS): trafilatura's table handling is
    quadratic in a row's cells, ~7 s here against the test's 1 s limit.
    """
    settings = with_limits(with_partitions(settings, 1), clean_timeout_seconds=1.0)
    ensure_topics(settings)
    slow = (
        "<html><body><table><tr>" + "<td>x" * 49_000 + "</table>"
        "<p>The council met on Monday.</p></body></html>"
    )
    slow_raw = RawArticle(
        id="slow-page", source="test://slow", content_type="html", body=slow.encode()
    )
    publish_raw(
        settings,
        [
            (b"a", raw_article(1).model_dump_json().encode()),
            (b"slow", slow_raw.model_dump_json().encode()),
            (b"b", raw_article(2).model_dump_json().encode()),
        ],
    )
    run_clean_worker(settings, idle_exit_seconds=2)
    run_index_worker(settings, idle_exit_seconds=2)
    assert count(es, settings) == 2
    letters = list_dead_letters(settings)
    assert [(d.error_type, d.original_key) for d in letters] == [("timeout", b"slow")]
    assert "1 s" in letters[0].error_message


def with_topic_limit(settings: Settings, topic: str, limit: int) -> Settings:
    """Fresh topics, uncompressed sends (sizes on the wire are the sizes here), and
    ``topic`` accepting at most ``limit`` bytes a message."""
    settings = with_partitions(settings, 1)
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"compression": "none"})}
    )
    ensure_topics(settings)
    admin = make_admin(settings)
    try:
        resource = ConfigResource(
            ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(limit)}
        )
        admin.alter_configs([resource], incremental=True)
    finally:
        admin.close()
    wait_until("the lower limit to apply", lambda: message_limit(settings, topic) == limit, 60)
    return settings


def _with_clean_topic_limit(settings: Settings, limit: int) -> Settings:
    return with_topic_limit(settings, settings.topics.clean, limit)


def _pass_through(sink: KafkaSink) -> Callable[[ConsumerRecord], None]:
    def handle(record: ConsumerRecord) -> None:
        sink.add(record.key or b"", record.value or b"")

    return handle


def test_a_result_over_the_clean_topics_limit_is_dead_lettered_not_retried_forever(
    stack: Any, settings: Settings
) -> None:
    """The clean topic accepts less than the pipeline's limit (someone configured it so, or
    ensure_topics could not raise it). The broker refused the big result, kafka-python's
    idempotent producer took that as fatal, and the worker retried the batch as "downstream
    unavailable" forever, every later send failing too."""
    settings = _with_clean_topic_limit(settings, 100_000)
    big = os.urandom(100_000).hex().encode()
    publish_raw(settings, [(b"a", b"small-1"), (b"big", big), (b"b", b"small-2")])
    producer = make_producer(settings)
    limit = message_limit(settings, settings.topics.clean)
    sink = KafkaSink(producer, settings.topics.clean, stage=Stage.CLEAN, max_message_bytes=limit)
    loop = _clean_loop(settings, producer, sink, _pass_through(sink), 10)
    try:
        stats = loop.run(idle_exit_seconds=1)
    finally:
        producer.close()
    assert stats.consumed == 3 and stats.dead_lettered == 1
    (letter,) = list_dead_letters(settings)
    assert (letter.error_type, letter.original_key) == ("too_large_for_topic", b"big")
    assert "100000" in letter.error_message
    assert sorted(_clean_values(settings)) == [b"small-1", b"small-2"]
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == 3


def test_a_send_the_broker_refuses_for_good_ends_the_worker_instead_of_a_retry_loop(
    stack: Any, settings: Settings
) -> None:
    """The topic's limit was lowered after the worker read it: the broker's refusal leaves
    the producer failed for good, so the worker exits (3, restart me) with the reason."""
    settings = _with_clean_topic_limit(settings, 100_000)
    publish_raw(settings, [(b"big", os.urandom(100_000).hex().encode())])
    producer = make_producer(settings)
    sink = KafkaSink(producer, settings.topics.clean, stage=Stage.CLEAN)  # the limit unknown
    loop = _clean_loop(settings, producer, sink, _pass_through(sink), 10)
    try:
        with pytest.raises(WorkerGaveUp, match="MessageSizeTooLarge"):
            loop.run(idle_exit_seconds=1)
    finally:
        producer.close()
    assert committed_total(settings, settings.groups.clean, settings.topics.raw) == 0


def test_an_oversized_dead_letter_is_written_truncated_and_replays_whole(
    stack: Any, settings: Settings, es: Elasticsearch
) -> None:
    """A failing 8.5 MB message: its dead letter would be 11 MB+ as base64 in JSON."""
    settings = with_partitions(settings, 1)
    ensure_topics(settings)
    big_text = "\n\n".join(
        f"Paragraph {k}: the harbour board met again to discuss grain exports." for k in range(4)
    )
    big = raw_article(7, body=big_text + "\n\n" + "padding " * 790_000)
    value = big.model_dump_json().encode()
    assert len(value) > 8_300_000
    publish_raw(settings, [(b"big", value), (b"ok", raw_article(8).model_dump_json().encode())])
    stats = run_clean_worker(settings, idle_exit_seconds=2)  # too_large: input limit is 5 MB
    assert stats.consumed == 2 and stats.dead_lettered == 1
    (letter,) = list_dead_letters(settings)
    assert letter.error_type == "too_large"
    assert letter.original_truncated and letter.original_size == len(value)
    assert value.startswith(letter.original)

    # The cause is fixed (a larger limit); replay finds the whole original on the raw topic.
    # A 6 MB page takes a while to clean on a busy machine: the limit here is not under test.
    fixed = with_limits(settings, max_input_bytes=12_000_000, clean_timeout_seconds=600)
    ensure_topics(fixed)
    summary = replay(fixed)
    assert summary.replayed == 1 and summary.unrecoverable == 0
    run_clean_worker(fixed, idle_exit_seconds=2)
    run_index_worker(fixed, idle_exit_seconds=2)
    assert count(es, settings) == 2
    doc = es.get(index=settings.index.alias, id=big.id)["_source"]
    assert "grain exports" in " ".join(
        doc["body"]
    )  # indexed at all: its 64 KB head would not even parse as JSON


def test_replay_skips_a_letter_larger_than_its_topic_now_accepts_and_goes_on(
    stack: Any, settings: Settings
) -> None:
    """The raw topic's limit was lowered after a big message failed. Replay sent it anyway,
    the broker's refusal failed the producer for good, and the replay ended there, on every
    later try too: its position never got past that letter, so the letters behind it were
    never replayed."""
    settings = _too_large_letter_waiting(settings)
    summary = replay(settings)
    assert (summary.replayed, summary.too_large) == (1, 1)
    assert _raw_keys(settings) == [b"small"]
    summary = replay(settings)  # past both: the big one does not hold the others back
    assert (summary.replayed, summary.too_large) == (0, 1)


def _too_large_letter_waiting(settings: Settings) -> Settings:
    """Two letters of the clean stage, a 150 KB message and a small one, and a raw topic
    that accepts 100 KB a message."""
    settings = with_topic_limit(settings, settings.topics.raw, 100_000)
    letters = [
        DeadLetter(
            original=value,
            original_key=key,
            stage=Stage.CLEAN,
            error_type="no_article_text",
            error_message="nothing to keep",
            topic=settings.topics.raw,
            partition=0,
            offset=offset,
        )
        for offset, (key, value) in enumerate(
            [(b"big", os.urandom(75_000).hex().encode()), (b"small", b"a small one")]
        )
    ]
    producer = make_producer(settings)
    try:
        DeadLetterWriter(producer, settings.topics.dead_letter, 10_000_000).write(letters)
    finally:
        producer.close()
    return settings


def test_a_letter_too_large_for_its_topic_is_sent_by_a_plain_replay_once_the_limit_is_raised(
    stack: Any, settings: Settings
) -> None:
    """Replay passed a letter too large for its topic as if it had sent it: once the limit
    was raised, no replay sent it again until someone reset the replay group's offsets by
    hand, and it said neither which letter it was nor how to let it through."""
    settings = _too_large_letter_waiting(settings)
    env = newsflow_cli.child_env(settings)
    first = newsflow_cli.run(["dlq", "replay"], env=env)
    text = newsflow_cli.output(first)
    assert first.returncode == 0, text
    assert "replayed 1 dead letter(s)" in text and "1 larger than their topic accepts" in text
    # Which letter, how large, what its topic accepts, and what to run.
    assert f"{settings.topics.dead_letter}[0]@0" in text, text
    assert f"{settings.topics.raw} accepts 100,000" in text, text
    assert "`newsflow init`" in text and "`newsflow dlq replay` again" in text, text
    assert _raw_keys(settings) == [b"small"]

    # Not raised yet: tried again, still too large, nothing sent twice (here as the
    # maintenance DAG's replay_dlq runs it, which says which letters wait).
    again = replay_dead_letters(settings)
    assert (again["replayed"], again["too_large"]) == (0, 1)
    assert again["too_large_letters"] == [f"{settings.topics.dead_letter}[0]@0"]

    raised = newsflow_cli.run(["init"], env=env)  # what the advice says
    assert raised.returncode == 0, newsflow_cli.output(raised)
    wait_until(
        "the raw topic's limit to be raised",
        lambda: message_limit(settings, settings.topics.raw) == settings.limits.max_message_bytes,
        60,
    )
    sent = replay(settings)  # a plain replay: no offsets reset by hand
    assert (sent.replayed, sent.too_large) == (1, 0)
    assert sorted(_raw_keys(settings)) == [b"big", b"small"]
    last = replay(settings)
    assert (last.replayed, last.too_large) == (0, 0)


def test_a_result_too_large_for_the_clean_topic_goes_through_once_the_limit_is_raised(
    stack: Any, settings: Settings
) -> None:
    """The way back for a `too_large_for_topic` letter (the clean topic below the pipeline's
    limit, and ensure_topics not allowed to raise it): raise the limit by hand, replay. The
    worker kept the limit it read at start and refused the replayed message again until it
    was restarted; and a worker that started set a limit raised by hand back to the
    pipeline's. Here one sink lives through both runs of the loop, as in a running worker."""
    settings = _with_clean_topic_limit(settings, 60_000)
    big = os.urandom(40_000).hex().encode()
    publish_raw(settings, [(b"big", big)])
    producer = make_producer(settings)
    try:
        sink = topic_sink(settings, producer, settings.topics.clean, Stage.CLEAN)
        assert sink.max_message_bytes == 60_000
        stats = _clean_loop(settings, producer, sink, _pass_through(sink), 10).run(
            idle_exit_seconds=1
        )
        assert stats.dead_lettered == 1
        (letter,) = list_dead_letters(settings)
        assert letter.error_type == "too_large_for_topic"
        listed = newsflow_cli.run(["dlq", "list"], env=newsflow_cli.child_env(settings))
        assert "`newsflow init`" in listed.stdout and "`newsflow dlq replay`" in listed.stdout

        # Raised by hand, above the pipeline's limit (as kafka-configs.sh --alter does); a
        # worker starting now must not set it back.
        admin = make_admin(settings)
        try:
            resource = ConfigResource(
                ConfigResourceType.TOPIC,
                settings.topics.clean,
                configs={"max.message.bytes": "20000000"},
            )
            admin.alter_configs([resource], incremental=True)
        finally:
            admin.close()
        wait_until(
            "the raised limit",
            lambda: message_limit(settings, settings.topics.clean) == 20_000_000,
            60,
        )
        ensure_topics(settings)  # what every worker, and `newsflow init`, does at start
        assert message_limit(settings, settings.topics.clean) == 20_000_000

        replayed = newsflow_cli.run(["dlq", "replay"], env=newsflow_cli.child_env(settings))
        assert "replayed 1 dead letter(s)" in replayed.stdout, newsflow_cli.output(replayed)
        stats = _clean_loop(settings, producer, sink, _pass_through(sink), 10).run(
            idle_exit_seconds=1
        )
    finally:
        producer.close()
    assert (stats.consumed, stats.dead_lettered) == (1, 0)
    assert _clean_values(settings) == [big]
    assert len(list_dead_letters(settings)) == 1  # not refused again


def test_replaying_every_stage_does_not_resend_a_stage_replayed_further_before(
    stack: Any, settings: Settings
) -> None:
    """The index letters were replayed (`--stage index`), the clean ones not. A replay of
    every stage reads from the clean letters' position and committed, after each batch of 200,
    the position it had reached for every stage: the index stage's went back below its
    letters, and the same replay sent them a second time. (A thousand clean letters first:
    polls return at most 200, so a batch is committed before the index letters are read.)"""
    settings = with_partitions(settings, 1)
    ensure_topics(settings)
    letters = [
        DeadLetter(
            original=f"message {i}".encode(),
            original_key=f"k{i}".encode(),
            stage=Stage.CLEAN if i < 1000 else Stage.INDEX,
            error_type="no_article_text" if i < 1000 else "rejected",
            error_message="failed",
            topic=settings.topics.raw if i < 1000 else settings.topics.clean,
            partition=0,
            offset=i,
        )
        for i in range(1005)
    ]
    producer = make_producer(settings)
    try:
        DeadLetterWriter(producer, settings.topics.dead_letter, 10_000_000).write(letters)
    finally:
        producer.close()
    assert replay(settings, stages={Stage.INDEX}).by_topic == {settings.topics.clean: 5}
    summary = replay(settings)
    assert summary.by_topic == {settings.topics.raw: 1000}, summary
    assert len(_clean_values(settings)) == 5


def test_dlq_list_shows_the_newest_letters_and_says_how_many_there_are(
    stack: Any, settings: Settings
) -> None:
    """`dlq list` read the topic from its beginning and stopped at --limit: with more letters
    than that it showed the oldest, never the latest failures, and did not say there were
    more."""
    ensure_topics(settings)
    letters = [
        DeadLetter(
            original=f"message {i}".encode(),
            original_key=f"k{i}".encode(),
            stage=Stage.CLEAN,
            error_type="no_article_text",
            error_message=f"failure number {i}",
            topic=settings.topics.raw,
            partition=0,
            offset=i,
        )
        for i in range(7)  # made in this order: each fails later than the one before
    ]
    producer = make_producer(settings)
    try:
        DeadLetterWriter(producer, settings.topics.dead_letter, 10_000_000).write(letters)
    finally:
        producer.close()
    newest = list_dead_letters(settings, limit=3)  # over several partitions
    assert sorted(d.original_key or b"" for d in newest) == [b"k4", b"k5", b"k6"]
    shown = newsflow_cli.run(["dlq", "list", "--limit", "3"], env=newsflow_cli.child_env(settings))
    text = newsflow_cli.output(shown)
    assert shown.returncode == 0, text
    assert "failure number 6" in text and "failure number 0" not in text, text
    assert f"the newest 3 of 7 dead letters on {settings.topics.dead_letter}" in text, text


def _raw_keys(settings: Settings) -> list[bytes | None]:
    consumer = make_consumer(settings, None, consumer_timeout_ms=5000)
    try:
        consumer.subscribe([settings.topics.raw])
        return [r.key for r in consumer]
    finally:
        consumer.close()


def test_a_worker_that_gets_no_partition_gives_up_with_an_error(
    stack: Any, settings: Settings
) -> None:
    """Another member holds the only partition: --until-idle must not end quietly with 0."""
    settings = with_partitions(settings, 1)
    ensure_topics(settings)
    holder = make_consumer(settings, settings.groups.clean)
    holder.subscribe([settings.topics.raw])
    stop = threading.Event()

    def hold() -> None:  # a live member: it polls, so it takes part in every rebalance
        while not stop.is_set():
            holder.poll(timeout_ms=100)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        wait_until("the holder to own the partition", lambda: bool(holder.assignment()), 120)
        result = subprocess.run(
            [NEWSFLOW, "consume", "clean", "--until-idle", "2", "--max-wait", "10"],
            env=settings_env(settings),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        stop.set()
        thread.join(timeout=30)
        holder.close()
    assert result.returncode == EXIT_STALLED, result.stdout + result.stderr
    assert "no partition" in result.stdout + result.stderr
    assert "0 consumed" not in result.stdout


def test_a_worker_reports_metrics_health_and_progress(
    stack: Any, settings: Settings, tmp_path: Path
) -> None:
    """What an operator sees: Prometheus metrics, the health file, `newsflow status`."""
    ensure_topics(settings)
    with socket.socket() as probe:  # a free port for the metrics server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    health = tmp_path / "health.json"
    worker = start_worker(
        "clean", settings, tmp_path / "clean.log", metrics_port=port, health_file=health
    )
    try:
        publish_raw(
            settings,
            [(f"m{i}".encode(), raw_article(i).model_dump_json().encode()) for i in range(5)],
        )
        wait_until(
            "5 records committed",
            lambda: committed_total(settings, settings.groups.clean, settings.topics.raw) == 5,
        )
        wait_until("the health file", health.exists)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        text = metrics.decode()
        assert "newsflow_consumed_total 5.0" in text, text
        assert "newsflow_live 1.0" in text
        assert "newsflow_held_back_partitions 0.0" in text  # a clean worker rests on none
        checked = subprocess.run(
            [NEWSFLOW, "health", str(health)], capture_output=True, text=True, timeout=60
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "healthy: clean" in checked.stdout
        status = subprocess.run(
            [NEWSFLOW, "status", "--json"],
            env=settings_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 0, status.stderr
        groups = {g["group"]: g for g in json.loads(status.stdout)}
        # Every worker kind's group, the fetch workers' too (none runs here: no members).
        assert {settings.groups.fetch, settings.groups.clean, settings.groups.index} <= set(groups)
        assert groups[settings.groups.fetch]["topic"] == settings.topics.links
        assert groups[settings.groups.fetch]["members"] == []
        clean = groups[settings.groups.clean]
        assert clean["lag"] == 0
        assert len(clean["members"]) == 1
        assert [w.split("@")[0] for w in clean["last_progress"]] == ["clean"]
    finally:
        assert stop_all([worker]) == [0]
    # A worker that is gone is not healthy for long: its file stops being rewritten.
    assert subprocess.run([NEWSFLOW, "health", str(health), "--max-age", "0"]).returncode == 1
