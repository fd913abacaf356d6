"""Letters too large for their topic, kept for the next replay (consumers.dlq.held_metadata),
and the way to let them through that `dlq replay` prints."""

from __future__ import annotations

from consumers.dlq import held_metadata, held_offsets
from newsflow.cli.ingest import raise_limit_advice
from newsflow.settings import Limits, Settings


def test_held_letters_round_trip_through_the_commit_metadata() -> None:
    position, metadata = held_metadata(120, [40, 12, 40])
    assert position == 120
    assert held_offsets(metadata) == [12, 40]


def test_nothing_held_leaves_no_metadata() -> None:
    assert held_metadata(7, []) == (7, "")
    assert held_offsets("") == held_offsets(None) == []
    # Metadata of another kind (a worker's commit stamp) names no held letter.
    assert held_offsets('{"worker": "clean@host:1", "at": 1.0}') == []


def test_more_held_letters_than_the_metadata_holds_keep_the_position_at_the_first_left_out() -> (
    None
):
    held = list(range(1_000_000, 1_002_000))
    position, metadata = held_metadata(1_005_000, held)
    assert len(metadata) <= 4000
    kept = held_offsets(metadata)
    assert kept == held[: len(kept)]
    # The next replay reads on from the first that did not fit: none is passed over.
    assert position == held[len(kept)]


def test_the_input_limit_for_a_message_size_is_the_smallest_that_lets_it_through() -> None:
    limits = Limits()
    for size in (1, 1_048_576, 11_048_576, 11_048_577, 30_000_001):
        inputs = Limits.input_bytes_for(size)
        assert limits.model_copy(update={"max_input_bytes": inputs}).max_message_bytes >= size
        if inputs > 1:
            smaller = limits.model_copy(update={"max_input_bytes": inputs - 1})
            assert smaller.max_message_bytes < size


def test_the_advice_names_the_command_and_the_setting_that_let_a_letter_through() -> None:
    settings = Settings()
    within = raise_limit_advice(200_000, settings)
    assert "`newsflow init`" in within and "`newsflow dlq replay`" in within
    assert f"{settings.limits.max_message_bytes:,}" in within
    beyond = raise_limit_advice(30_000_000, settings)
    assert f"NEWSFLOW_MAX_INPUT_BYTES={Limits.input_bytes_for(30_000_000)}" in beyond
