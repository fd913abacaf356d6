"""The message models: byte-exact round trips and up-to-date exported JSON Schemas."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import Article, ContentType, DeadLetter, RawArticle, Stage
from schemas.export import main as export_main
from schemas.export import rendered


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
