"""How often a consumer heartbeats, for every session timeout the settings allow."""

from __future__ import annotations

from newsflow.kafka.clients import heartbeat_interval_ms


def test_a_member_heartbeats_every_second_and_at_least_three_times_a_session() -> None:
    # Every second: a member hears of a rebalance at its next beat (a joining worker waits
    # two rounds of them before it gets partitions).
    assert heartbeat_interval_ms(6_000) == 1_000  # the lowest session the settings allow
    assert heartbeat_interval_ms(20_000) == 1_000  # the default session
    for session in range(6_000, 60_001, 500):
        assert 3 * heartbeat_interval_ms(session) <= session
