"""The message models, the reason vocabulary and the typed failures: round trips, exported
JSON Schemas, reasons checked against their stage."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas import (
    AnyStageReason,
    Article,
    CleanReason,
    ContentType,
    DeadLetter,
    IndexedEvent,
    IndexReason,
    ProduceReason,
    RawArticle,
    Stage,
)
from schemas.export import main as export_main
from schemas.export import rendered
from schemas.failures import CleanError, PermanentError, SourceError
from schemas.reasons import reason_for


def test_raw_article_round_trips_arbitrary_bytes() -> None:
    body = bytes(range(256)) + "中国钢铁".encode("gbk")
    raw = RawArticle(id="a1", source="t", content_type=ContentType.HTML, body=body)
    again = RawArticle.model_validate_json(raw.model_dump_json())
    assert again.body == body
    assert again == raw


def test_raw_article_requires_its_fields() -> None:
    with pytest.raises(ValidationError) as info:
        RawArticle.model_validate_json(json.dumps({"id": "x", "source": "s"}))
    missing = {e["loc"][0] for e in info.value.errors()}
    assert missing == {"content_type", "body"}


def test_schema_version_is_checked() -> None:
    raw = RawArticle(id="a", source="s", content_type=ContentType.TEXT, body=b"x")
    doc = json.loads(raw.model_dump_json())
    doc["schema_version"] = 99
    with pytest.raises(ValidationError):
        RawArticle.model_validate(doc)


def test_dead_letter_keeps_the_original_bytes() -> None:
    letter = DeadLetter(
        original=b"\xff\x00",
        stage=Stage.DECODE,
        error_type="undecodable",
        error_message="not JSON",
        topic="t",
        partition=0,
        offset=7,
    )
    again = DeadLetter.model_validate_json(letter.model_dump_json())
    assert again.original == b"\xff\x00" and again.offset == 7


def test_article_text_joins_paragraphs() -> None:
    art = Article(id="a", body=["One.", "Two."], content_hash="h", simhash="0" * 16)
    assert art.text == "One.\n\nTwo."


def test_exported_json_schemas_are_current() -> None:
    assert export_main(["--check"]) == 0, "run: python -m schemas.export"
    for path, text in rendered().items():
        schema = json.loads(text)
        assert schema["type"] == "object" and "schema_version" in schema["properties"], path


def test_indexed_event_round_trips_and_names_its_index() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = IndexedEvent(id="a1", index="news-articles-v1", indexed_at=when)
    again = IndexedEvent.model_validate_json(event.model_dump_json())
    assert again == event and again.schema_version == 1
    # Announcements written before the model existed (no schema_version) still parse.
    old = IndexedEvent.model_validate_json(b'{"id": "a1", "index": "i", "indexed_at": null}')
    assert old.id == "a1" and old.indexed_at is None


def test_reasons_belong_to_their_stage() -> None:
    assert reason_for(Stage.CLEAN, "binary") is CleanReason.BINARY
    assert reason_for(Stage.INDEX, "rejected") is IndexReason.REJECTED
    assert reason_for(Stage.TAG, "unexpected_error") is AnyStageReason.UNEXPECTED
    with pytest.raises(ValueError, match="not a reason of the index stage"):
        reason_for(Stage.INDEX, "binary")
    with pytest.raises(ValueError):
        PermanentError(Stage.DECODE, CleanReason.BINARY, "a clean reason at the decode stage")
    # A stage's child process can time out or die whatever the stage is.
    assert reason_for(Stage.INDEX, "timeout") is AnyStageReason.TIMEOUT
    assert reason_for(Stage.CLEAN, "stage_crashed") is AnyStageReason.STAGE_CRASHED


def test_typed_failures_carry_stage_reason_and_message() -> None:
    clean = CleanError(CleanReason.EMPTY, "no text")
    assert (clean.stage, clean.reason, str(clean)) == (Stage.CLEAN, "empty", "empty: no text")
    source = pickle.loads(pickle.dumps(SourceError(ProduceReason.MISSING, "no such file")))
    assert (source.stage, source.reason, source.detail) == (
        Stage.PRODUCE,
        "missing",
        "no such file",
    )
    assert isinstance(source, PermanentError)


def test_a_null_body_is_a_schema_error_not_a_crash() -> None:
    # Found by the property suite: the base64 validator raised TypeError, which pydantic
    # passes through, so the decode stage crashed instead of dead-lettering schema_invalid.
    with pytest.raises(ValidationError):
        RawArticle.model_validate_json(
            b'{"id": "a", "source": "s", "content_type": "text", "body": null}'
        )
