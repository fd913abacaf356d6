"""The local stack is real: a Kafka 4 broker and an Elasticsearch 9 node that do their jobs.

These talk to the stack through the same clients the pipeline uses (kafka-python and
elasticsearch-py); nothing is mocked. Tests that stop or restart a service start their own
on other ports in a throwaway stack dir, so the shared stack is never restarted; the secure
stack has its own tests (test_secure_stack.py).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from kafka.admin import NewTopic
from kafka.structs import TopicPartition
from local_ports import free_port

from newsflow import stack as local_stack
from newsflow.kafka.clients import make_admin, make_consumer, make_producer
from newsflow.settings import Settings, StackSettings
from newsflow.stack.layout import StackPaths

pytestmark = pytest.mark.integration

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


def test_message_round_trip_with_a_committed_consumer_group(
    stack: local_stack.StackStatus, settings: Settings
) -> None:
    topic = settings.topics.raw
    admin = make_admin(settings)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)], wait_for_metadata=True)
    finally:
        admin.close()

    producer = make_producer(settings)
    try:
        producer.send(topic, key=b"article-1", value=b"Steel output falls in Hebei").get(30)
    finally:
        producer.close()

    group = settings.groups.clean
    consumer = make_consumer(settings, group)
    consumer.subscribe([topic])
    try:
        received: list[Any] = []
        deadline = time.monotonic() + 60
        while not received and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                received.extend(records)
        assert [(r.key, r.value) for r in received] == [
            (b"article-1", b"Steel output falls in Hebei")
        ]
        consumer.commit()
        assert consumer.committed(TopicPartition(topic, 0)) == 1
    finally:
        consumer.close()

    # The commit is stored by the broker: a new member of the group starts after it.
    again = make_consumer(settings, group, consumer_timeout_ms=3000)
    again.subscribe([topic])
    try:
        assert list(again) == []
    finally:
        again.close()


def test_document_is_found_by_full_text_search(es: Elasticsearch, settings: Settings) -> None:
    index = f"{settings.index.prefix}1"
    es.indices.create(
        index=index,
        settings={"number_of_shards": 1, "number_of_replicas": 0},
        mappings={"properties": {"title": {"type": "text"}, "body": {"type": "text"}}},
    )
    es.index(
        index=index,
        id="a1",
        document={
            "title": "China to cut steel output",
            "body": "Mills in Hebei will produce less steel to reach carbon goals.",
        },
        refresh=True,
    )
    es.index(
        index=index,
        id="a2",
        document={"title": "Library opens", "body": "A new public library opened today."},
        refresh=True,
    )

    hits = es.search(index=index, query={"match": {"body": "carbon STEEL"}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["a1"]
    assert es.search(index=index, query={"match": {"body": "volcano"}})["hits"]["hits"] == []


def test_status_reports_kafka_4_and_elasticsearch_9(stack: local_stack.StackStatus) -> None:
    current = local_stack.status(Settings())
    assert current.running
    assert (current.kafka.version or "").startswith("4.")
    assert (current.elasticsearch.version or "").startswith("9.")

    cli = subprocess.run(
        [NEWSFLOW, "stack", "status"], capture_output=True, text=True, timeout=120, check=False
    )
    assert cli.returncode == 0, cli.stderr
    lines = {line.split()[0]: line for line in cli.stdout.splitlines() if line.startswith("  ")}
    assert "version 4." in lines["kafka"]
    assert "version 9." in lines["elasticsearch"]


def test_second_up_is_a_no_op(stack: local_stack.StackStatus) -> None:
    before = local_stack.status(Settings())
    cli = subprocess.run(
        [NEWSFLOW, "stack", "up"], capture_output=True, text=True, timeout=300, check=False
    )
    assert cli.returncode == 0, cli.stderr
    # It says so and starts nothing (the same processes below), rather than being quick.
    assert "stack already running; nothing to do" in cli.stderr, cli.stderr
    after = local_stack.status(Settings())
    assert after.running
    assert [s.pid for s in after.services.values()] == [s.pid for s in before.services.values()]


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        local = StackSettings(dir=tmp_path, kafka_port=port, kafka_controller_port=free_port())
        settings = Settings(stack=local)
        with pytest.raises(local_stack.StackError, match=rf"port {port} .*already in use"):
            local_stack.up(settings, services=["kafka"])


def _throwaway_kafka(root: Path, **overrides: Any) -> Settings:
    """Settings for a private broker on free ports (the shared stack is left alone).

    Tests using it still take the ``stack`` fixture: it fills the shared artifact cache first.
    """
    shared = StackPaths.from_settings(Settings())
    return Settings(
        stack=StackSettings(
            dir=root,
            cache_dir=shared.cache,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            **overrides,
        )
    )


def test_down_stops_the_broker_and_purge_deletes_its_data(
    stack: local_stack.StackStatus, tmp_path: Path
) -> None:
    settings = _throwaway_kafka(tmp_path / "stack", kafka_heap="256m")
    try:
        started = local_stack.up(settings, services=["kafka"]).kafka
        assert (
            started.running and started.managed and started.version == settings.stack.kafka_version
        )
        data = StackPaths.from_settings(settings).kafka_data
        assert (data / "meta.properties").exists()
    finally:
        stopped = local_stack.down(settings, purge=True, services=["kafka"])
    assert stopped == ["kafka"]
    assert not local_stack.status(settings, services=["kafka"]).kafka.running
    assert not data.exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", settings.stack.kafka_port)) != 0


def test_a_service_that_dies_on_start_is_reported_with_its_log(
    stack: local_stack.StackStatus, tmp_path: Path
) -> None:
    # A heap size the JVM rejects: the broker process exits at once.
    settings = _throwaway_kafka(tmp_path / "stack", kafka_heap="12q")
    with pytest.raises(local_stack.StackError, match="kafka exited during start") as failure:
        local_stack.up(settings, services=["kafka"])
    assert "12q" in failure.value.details


def _command_lines(pids: list[int]) -> list[list[str]]:
    return [Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0") for pid in pids]


def test_the_broker_compiles_with_c1_alone_unless_told_otherwise(
    stack: local_stack.StackStatus, tmp_path: Path
) -> None:
    # Co-located on 2 cores, C2 kept compiling through every burst (docs/benchmarks.md,
    # "What limits each target"): the stack's JVMs run C1 alone by default, and "tiered"
    # gives C2 back.
    for jit, wanted in (("c1", True), ("tiered", False)):
        settings = _throwaway_kafka(tmp_path / jit, kafka_heap="256m", kafka_jit=jit)
        try:
            broker = local_stack.up(settings, services=["kafka"]).kafka
            assert broker.running and broker.pids
            flags = {arg for line in _command_lines(broker.pids) for arg in line}
            assert ("-XX:TieredStopAtLevel=1" in flags) is wanted, (jit, flags)
        finally:
            local_stack.down(settings, purge=True, services=["kafka"])


def test_the_stack_elasticsearch_runs_the_jit_mode_of_its_settings(
    stack: local_stack.StackStatus,
) -> None:
    node = stack.services["elasticsearch"]
    if not node.managed:
        pytest.skip("the Elasticsearch answering was not started from this stack dir")
    settings = Settings()
    wanted = settings.stack.es_jit == "c1"
    options = StackPaths.from_settings(settings).es_config / "jvm.options.d" / "newsflow.options"
    assert ("-XX:TieredStopAtLevel=1" in options.read_text().split()) is wanted
    # ... and the node's JVM was started with it (its launcher builds the command line).
    flags = {arg for line in _command_lines(node.pids) for arg in line}
    assert ("-XX:TieredStopAtLevel=1" in flags) is wanted
