"""Consumer groups as the broker sees them: members, who owns which partition, lag.

Used by `newsflow status` and by a worker's liveness check ("my group leaves partitions
without an owner while I have none": a worker stuck out of its group).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kafka.admin import MemberToRemove
from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    NoError,
    NotCoordinatorError,
)
from kafka.structs import TopicPartition

from newsflow.kafka.clients import make_admin, make_consumer
from newsflow.settings import Settings


@dataclass(frozen=True)
class Member:
    """One consumer in a group, with the partitions the group gave it."""

    member_id: str
    client_id: str
    host: str
    partitions: tuple[int, ...]


@dataclass(frozen=True)
class PartitionState:
    """One partition of the group's topic: how far the group got and how far the log is."""

    partition: int
    committed: int | None
    end: int
    owner: str | None
    #: Who made the last commit and when (unix time), from the commit's metadata.
    committed_by: str | None = None
    committed_at: float | None = None

    @property
    def lag(self) -> int:
        return max(0, self.end - (self.committed or 0))


@dataclass
class GroupState:
    """A consumer group on one topic, as the broker reports it right now."""

    group: str
    topic: str
    state: str
    members: list[Member] = field(default_factory=list)
    partitions: list[PartitionState] = field(default_factory=list)
    #: False when the broker knows no such topic (no partitions to report).
    topic_exists: bool = True

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def group_exists(self) -> bool:
        """Whether any member ever joined the group or committed for it: the broker reports a
        group it does not know as "Dead", with nothing committed."""
        return self.state != "Dead" or any(p.committed is not None for p in self.partitions)

    @property
    def unowned(self) -> list[int]:
        return [p.partition for p in self.partitions if p.owner is None]


def _members(description: dict[str, Any], topic: str) -> list[Member]:
    members: list[Member] = []
    for m in description.get("members") or []:
        assignment = m.get("member_assignment") or {}
        parts: list[int] = []
        if isinstance(assignment, dict):
            for entry in assignment.get("assigned_partitions") or []:
                if entry.get("topic") == topic:
                    parts.extend(int(p) for p in entry.get("partitions") or [])
        members.append(
            Member(
                member_id=str(m.get("member_id", "")),
                client_id=str(m.get("client_id", "")),
                host=str(m.get("client_host", "")).lstrip("/"),
                partitions=tuple(sorted(parts)),
            )
        )
    return members


T = TypeVar("T")

#: What a broker answers about a group while its coordinator is not ready: on a new broker,
#: the first question about any group creates the offsets topic and is told
#: COORDINATOR_NOT_AVAILABLE (`newsflow status` right after `stack up` failed with it).
_COORDINATOR_NOT_READY = (
    CoordinatorNotAvailableError,
    CoordinatorLoadInProgressError,
    NotCoordinatorError,
)


def coordinator_ready(
    ask: Callable[[], T], attempts: int = 6, sleep: Callable[[float], None] = time.sleep
) -> T:
    """``ask()``, asked again (after 0.25, 0.5, 1, 2, 4 s) while the group's coordinator is
    not ready; the last refusal is raised."""
    for attempt in range(attempts):
        try:
            return ask()
        except _COORDINATOR_NOT_READY:
            if attempt == attempts - 1:
                raise
            sleep(0.25 * 2**attempt)
    raise AssertionError("unreachable")


def describe_group(settings: Settings, group: str, topic: str) -> GroupState:
    """Members, ownership, committed and end offsets of ``group`` on ``topic``."""
    admin = make_admin(settings)
    consumer = make_consumer(settings, None)
    try:
        description = coordinator_ready(lambda: admin.describe_groups([group]).get(group, {}))
        committed: dict[TopicPartition, Any] = coordinator_ready(
            lambda: admin.list_group_offsets({group: None}).get(group) or {}
        )
        numbers = sorted(consumer.partitions_for_topic(topic) or set())
        tps = [TopicPartition(topic, p) for p in numbers]
        ends: dict[TopicPartition, int] = consumer.end_offsets(tps) if tps else {}
    finally:
        consumer.close()
        admin.close()
    members = _members(description, topic)
    owner_of = {p: m.member_id for m in members for p in m.partitions}
    partitions = []
    for tp in tps:
        meta = committed.get(tp)
        stamp = _stamp(meta.metadata if meta is not None else None)
        partitions.append(
            PartitionState(
                partition=tp.partition,
                committed=meta.offset if meta is not None else None,
                end=ends.get(tp, 0),
                owner=owner_of.get(tp.partition),
                committed_by=stamp.get("worker"),
                committed_at=stamp.get("at"),
            )
        )
    return GroupState(
        group=group,
        topic=topic,
        state=str(description.get("group_state", "unknown")),
        members=members,
        partitions=partitions,
        topic_exists=bool(numbers),
    )


def _stamp(metadata: str | None) -> dict[str, Any]:
    """The {"worker", "at"} a newsflow worker writes into each commit's metadata."""
    try:
        value = json.loads(metadata or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def last_progress(state: GroupState) -> dict[str, float]:
    """Worker -> unix time of its latest commit, over the partitions of the group."""
    latest: dict[str, float] = {}
    for p in state.partitions:
        if p.committed_by and p.committed_at:
            latest[p.committed_by] = max(latest.get(p.committed_by, 0.0), float(p.committed_at))
    return latest


def unowned_partitions(settings: Settings, group: str, topic: str) -> int:
    """How many partitions of ``topic`` no member of ``group`` owns (0 while it rebalances).

    An "Empty" group counts too: a member the broker dropped (while its client still thinks
    it is in the group) leaves a group with no members and every partition unowned.
    """
    state = describe_group(settings, group, topic)
    if state.state in ("PreparingRebalance", "CompletingRebalance"):
        return 0  # mid-rebalance every partition looks unowned for a moment
    return len(state.unowned)


def remove_static_member(settings: Settings, group: str, instance_id: str, reason: str) -> None:
    """Removes the static member ``instance_id`` from ``group`` (LeaveGroup by instance id).

    A static member never leaves on its own (it keeps its place across restarts); removing it
    makes the group rebalance, and its next join is a new member's, which a rebalance answers.
    Raises KafkaError when the broker refuses.
    """
    admin = make_admin(settings)
    try:
        result = admin.remove_group_members(
            group, [MemberToRemove(group_instance_id=instance_id, reason=reason[:255])]
        )
    finally:
        admin.close()
    for error in result.values():
        if error is not NoError:
            raise error(f"removing {instance_id} from {group}")
