"""Consumer groups as `newsflow status` reports them: what does not exist yet, and a
coordinator that is not ready yet."""

from __future__ import annotations

import pytest
from kafka.errors import CoordinatorNotAvailableError, GroupAuthorizationFailedError

from newsflow.cli.status import missing_in_words
from newsflow.kafka.groups import GroupState, PartitionState, coordinator_ready
from schemas import Stage


def test_a_coordinator_not_ready_yet_is_asked_again() -> None:
    """On a new broker the first question about a group creates the offsets topic and is
    answered COORDINATOR_NOT_AVAILABLE: `newsflow status` right after `stack up` exited 1."""
    answers: list[Exception | str] = [
        CoordinatorNotAvailableError("creating __consumer_offsets"),
        CoordinatorNotAvailableError("loading"),
        "described",
    ]
    waits: list[float] = []

    def ask() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert coordinator_ready(ask, sleep=waits.append) == "described"
    assert waits == [0.25, 0.5]


def test_a_coordinator_that_never_gets_ready_is_reported_and_other_errors_at_once() -> None:
    waits: list[float] = []

    def never() -> str:
        raise CoordinatorNotAvailableError("still not")

    with pytest.raises(CoordinatorNotAvailableError):
        coordinator_ready(never, attempts=4, sleep=waits.append)
    assert waits == [0.25, 0.5, 1.0]

    def refused() -> str:
        raise GroupAuthorizationFailedError("no")

    with pytest.raises(GroupAuthorizationFailedError):
        coordinator_ready(refused, sleep=waits.append)
    assert len(waits) == 3


def test_status_names_what_does_not_exist_and_what_creates_it() -> None:
    nothing = GroupState("g-clean", "t.raw", "Dead", topic_exists=False)
    assert not nothing.group_exists
    assert missing_in_words(Stage.CLEAN, nothing) == [
        "topic t.raw does not exist yet: `newsflow init` creates the pipeline's topics, and so "
        "does the first `newsflow consume`, `produce`, `crawl` or `run` (not `stack up`)",
        "consumer group g-clean does not exist yet: created when a `newsflow consume clean` "
        "(or `run`) first joins it",
    ]
    waiting = GroupState(
        "g-fetch", "t.links", "Dead", partitions=[PartitionState(0, None, 3, None)]
    )
    assert missing_in_words(Stage.FETCH, waiting) == [
        "consumer group g-fetch does not exist yet: created when a `newsflow consume fetch` "
        "(or `crawl --once`) first joins it"
    ]
    # A group whose workers all left is there, with what it committed.
    stopped = GroupState("g-index", "t.clean", "Empty", partitions=[PartitionState(0, 5, 5, None)])
    assert stopped.group_exists and missing_in_words(Stage.INDEX, stopped) == []
