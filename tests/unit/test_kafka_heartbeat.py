"""How often a consumer heartbeats, for every session timeout the settings allow; how long a
gathering consumer lets the broker hold its fetch."""

from __future__ import annotations

from newsflow.kafka.clients import GATHER_MIN_BYTES, fetch_gathering, heartbeat_interval_ms


def test_a_member_heartbeats_every_second_and_at_least_three_times_a_session() -> None:
    # Every second: a member hears of a rebalance at its next beat (a joining worker waits
    # two rounds of them before it gets partitions).
    assert heartbeat_interval_ms(6_000) == 1_000  # the lowest session the settings allow
    assert heartbeat_interval_ms(20_000) == 1_000  # the default session
    for session in range(6_000, 60_001, 500):
        assert 3 * heartbeat_interval_ms(session) <= session


def test_a_gathering_consumer_waits_for_its_fetch_and_none_waits_at_zero() -> None:
    assert fetch_gathering(0) == {}
    options = fetch_gathering(100)
    assert options == {"fetch_min_bytes": GATHER_MIN_BYTES, "fetch_max_wait_ms": 100}
