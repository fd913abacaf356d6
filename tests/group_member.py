"""One member of a consumer group, as a process the integration tests can kill.

    python tests/group_member.py TOPIC GROUP INSTANCE_ID [--die-on-revoke] [--cooperative]

The consumer is newsflow's (newsflow.kafka.clients.make_consumer, settings from the
NEWSFLOW_* environment) with the static member id INSTANCE_ID. ``--die-on-revoke`` ends the
process the moment the group takes partitions from it, before it can rejoin (a worker
SIGKILLed mid-rebalance); ``--cooperative`` forces the cooperative assignor that newsflow uses
only for dynamic members. It polls until SIGTERM, then closes.
"""

from __future__ import annotations

import argparse
import os
import signal
from typing import Any

from kafka import ConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor

from newsflow.kafka.clients import make_consumer
from newsflow.settings import Settings

DIED = 9


class DieOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            os._exit(DIED)

    def on_partitions_assigned(self, assigned: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("topic")
    parser.add_argument("group")
    parser.add_argument("instance_id")
    parser.add_argument("--die-on-revoke", action="store_true")
    parser.add_argument("--cooperative", action="store_true")
    args = parser.parse_args()
    extra: dict[str, Any] = {}
    if args.cooperative:
        extra["partition_assignment_strategy"] = (CooperativeStickyAssignor,)
    consumer = make_consumer(Settings(), args.group, group_instance_id=args.instance_id, **extra)
    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    if args.die_on_revoke:
        consumer.subscribe([args.topic], listener=DieOnRevoke())
    else:
        consumer.subscribe([args.topic])
    while not stop:
        consumer.poll(timeout_ms=200)
    consumer.close()


if __name__ == "__main__":
    main()
