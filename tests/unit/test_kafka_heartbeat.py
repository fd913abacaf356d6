"""How often a consumer heartbeats, for every session timeout the settings allow."""

from __future__ import annotations

from newsflow.kafka.clients import heartbeat_interval_ms


def test_a_short_session_gets_three_heartbeats_and_the_default_keeps_3_s() -> None:
    assert heartbeat_interval_ms(6_000) == 2_000  # the lowest session the settings allow
    assert heartbeat_interval_ms(20_000) == 3_000  # the default session: as before
    for session in range(6_000, 60_001, 500):
        assert 3 * heartbeat_interval_ms(session) <= session
