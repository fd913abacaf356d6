"""consumers.workers.counted: a progress callback after every record, whatever became of it."""

from __future__ import annotations

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from consumers.workers import counted
from schemas import CleanReason, Stage
from schemas.failures import PermanentError


def _record(value: bytes) -> ConsumerRecord:
    return ConsumerRecord(
        topic="t",
        partition=0,
        leader_epoch=-1,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        headers=[],
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=len(value),
        serialized_header_size=-1,
    )


def _handle(record: ConsumerRecord) -> None:
    if record.value == b"bad":
        raise PermanentError(Stage.CLEAN, CleanReason.EMPTY, "no text")


def test_every_record_is_counted_handled_or_failed() -> None:
    ticks: list[int] = []
    handle = counted(_handle, lambda: ticks.append(1))
    handle(_record(b"good"))
    with pytest.raises(PermanentError):  # still the loop's to dead-letter
        handle(_record(b"bad"))
    assert len(ticks) == 2


def test_without_a_callback_the_handler_is_unchanged() -> None:
    assert counted(_handle, None) is _handle
