"""Which broker answers end a worker (the producer can never send again) and which are waited
out: a pure classification, checked against kafka-python's own error classes."""

from __future__ import annotations

from kafka.errors import (
    InvalidProducerEpochError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    OutOfOrderSequenceNumberError,
    TopicAuthorizationFailedError,
    UnknownProducerIdError,
)

from consumers.sinks import refused_for_good


def test_only_refusals_no_retry_can_fix_end_the_worker() -> None:
    # The producer is failed for good: a restarted worker gets a new one.
    assert refused_for_good(MessageSizeTooLargeError())
    assert refused_for_good(TopicAuthorizationFailedError())
    # A broker restart's answers: the idempotent producer bumps its epoch and sends on.
    assert not refused_for_good(OutOfOrderSequenceNumberError())
    assert not refused_for_good(UnknownProducerIdError())
    assert not refused_for_good(InvalidProducerEpochError())
    # Retriable answers and a broker that is away are waited out.
    assert not refused_for_good(NotLeaderForPartitionError())
    assert not refused_for_good(KafkaConnectionError())
    assert not refused_for_good(KafkaTimeoutError())
