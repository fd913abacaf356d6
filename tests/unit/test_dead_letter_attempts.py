"""How many times a message failed: carried by replay's header, counted in its dead letter."""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord

from consumers.batches import (
    FAILED_BEFORE_HEADER,
    dead_letter,
    failed_before,
    failed_before_header,
)
from consumers.dlq import by_message
from schemas import AnyStageReason, DeadLetter, Stage
from schemas.failures import PermanentError


def _record(headers: list[tuple[str, bytes]]) -> ConsumerRecord:
    return ConsumerRecord(
        topic="t-raw",
        partition=0,
        leader_epoch=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"\xff not json",
        headers=headers,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=11,
        serialized_header_size=-1,
    )


def _error() -> PermanentError:
    return PermanentError(Stage.CLEAN, AnyStageReason.UNEXPECTED, "boom")


def test_a_message_never_replayed_fails_for_the_first_time() -> None:
    assert failed_before(_record([])) == 0
    assert dead_letter(_record([]), _error()).attempts == 1


def test_a_replayed_message_that_fails_again_counts_one_more() -> None:
    record = _record([("other", b"x"), *failed_before_header(3)])
    assert failed_before(record) == 3
    assert dead_letter(record, _error()).attempts == 4


def test_a_garbled_count_is_taken_as_none() -> None:
    assert failed_before(_record([(FAILED_BEFORE_HEADER, b"many")])) == 0
    assert failed_before(_record([(FAILED_BEFORE_HEADER, b"-2")])) == 0
    assert failed_before_header(0) == []


def test_dlq_list_counts_a_letters_own_attempts_when_earlier_letters_are_gone() -> None:
    letter = DeadLetter(
        original=b"x", original_key=b"k", stage=Stage.CLEAN, error_type="e", error_message="m"
    )
    (only,) = by_message([letter.model_copy(update={"attempts": 4})])
    assert only.times == 4
    (both,) = by_message([letter, letter.model_copy(update={"attempts": 2})])
    assert both.times == 2
