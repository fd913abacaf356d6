"""`newsflow run`'s clean workers: how many, their settings, their summed counts, and the stop
signals handed to every one of them (the loops with Kafka are tested in
tests/integration/test_pipeline.py)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import cast

import pytest

from consumers.batches import LoopStats
from consumers.loop import WorkerLoop
from consumers.workers import StopAll, merged, one_of_many
from newsflow.cli.ingest import MAX_RUN_WORKERS, clean_workers
from newsflow.kafka.groups import GroupState, PartitionState
from newsflow.settings import Settings


def _pending(*lags: int) -> GroupState:
    """A group that committed 10 on each partition, whose logs end ``lag`` further on."""
    parts = [PartitionState(i, 10, 10 + lag, None) for i, lag in enumerate(lags)]
    return GroupState("g-clean", "t.raw", "Empty", partitions=parts)


def test_as_many_workers_as_asked_while_partitions_hold_pages() -> None:
    assert clean_workers(2, _pending(5, 3, 0, 7, 0, 1)) == 2
    assert clean_workers(3, _pending(5, 3, 0, 7, 0, 1)) == 3


def test_no_more_workers_than_partitions_with_pages() -> None:
    # The seed: one page, one partition; a second worker would only wait for the first.
    assert clean_workers(4, _pending(0, 1, 0, 0, 0, 0)) == 1
    assert clean_workers(4, _pending(2, 0, 9, 0, 0, 0)) == 2


def test_at_least_one_worker_even_with_nothing_to_read() -> None:
    assert clean_workers(2, _pending(0, 0, 0)) == 1
    assert clean_workers(2, GroupState("g", "t", "Dead", topic_exists=False)) == 1


def test_by_default_one_worker_per_cpu_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    many = _pending(*([1] * 12))
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    assert clean_workers(0, many) == 2
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(32)))
    assert clean_workers(0, many) == MAX_RUN_WORKERS


def test_each_worker_is_a_dynamic_member_and_only_the_first_serves_metrics() -> None:
    settings = Settings()
    settings = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"group_instance_id": "{hostname}-{stage}"}),
            "worker": settings.worker.model_copy(
                update={"metrics_port": 9108, "health_file": Path("/tmp/health")}
            ),
        }
    )
    first, second = one_of_many(settings, 0), one_of_many(settings, 1)
    assert first.kafka.group_instance_id is None and second.kafka.group_instance_id is None
    assert first.worker.metrics_port == 9108 and first.worker.health_file == Path("/tmp/health")
    assert second.worker.metrics_port is None and second.worker.health_file is None
    assert second.topics == settings.topics and second.groups == settings.groups
    assert settings.kafka.group_instance_id == "{hostname}-{stage}"  # the original untouched


def test_counts_of_several_loops_add_up() -> None:
    a = LoopStats(consumed=5, dead_lettered=1, flushes=2, reasons={"empty": 1})
    b = LoopStats(consumed=7, dead_lettered=2, rebalances=1, reasons={"empty": 1, "binary": 1})
    total = merged([a, b])
    assert (total.consumed, total.dead_lettered, total.flushes, total.rebalances) == (12, 3, 2, 1)
    assert total.reasons == {"empty": 2, "binary": 1}
    assert not total.signalled
    assert merged([a, LoopStats(signalled=True)]).signalled
    assert a.reasons == {"empty": 1}  # the parts unchanged


class _Loop:
    """Stands in for a WorkerLoop here: only its stop() is used."""

    def __init__(self) -> None:
        self.stopped = False
        self.signalled = False

    def stop(self, signalled: bool = False) -> None:
        self.stopped, self.signalled = True, signalled


def test_the_first_signal_stops_every_loop_and_any_that_starts_later() -> None:
    stopper = StopAll()
    early = _Loop()
    stopper.add(cast(WorkerLoop, early))
    stopper.on_signal(signal.SIGINT, None)
    assert early.stopped and early.signalled  # `run` then ends after this stage, with 130
    late = _Loop()
    stopper.add(cast(WorkerLoop, late))  # its stage was still loading
    assert late.stopped and late.signalled


def test_a_failed_worker_stops_the_others_without_calling_it_a_signal() -> None:
    stopper = StopAll()
    other = _Loop()
    stopper.add(cast(WorkerLoop, other))
    stopper.stop()
    assert other.stopped and not other.signalled
    later = _Loop()
    stopper.add(cast(WorkerLoop, later))  # still loading its stage when the other failed
    assert later.stopped and not later.signalled


def test_the_second_signal_waits_and_the_third_stops_at_once() -> None:
    stopper = StopAll()
    stopper.on_signal(signal.SIGTERM, None)
    stopper.on_signal(signal.SIGTERM, None)  # only logged
    with pytest.raises(KeyboardInterrupt):
        stopper.on_signal(signal.SIGTERM, None)
