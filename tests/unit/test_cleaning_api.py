"""The clean() entry point: dispatch by content type, JSON articles, files, Article building."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import pytest

from consumers.cleaning import clean, clean_file, looks_like_html, raw_from_file, to_article
from newsflow.settings import Limits
from schemas.article import ContentType, RawArticle
from schemas.failures import CleanError, PermanentError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cleaning"
PAGE = (FIXTURES / "jsonld_byline.html").read_text(encoding="utf-8")


def _raw(
    body: bytes | str, content_type: ContentType, metadata: dict[str, str] | None = None
) -> RawArticle:
    data = body.encode() if isinstance(body, str) else body
    return RawArticle(
        id="t", source="test", content_type=content_type, body=data, metadata=metadata or {}
    )


def test_html_sent_as_text_is_recognized() -> None:
    assert looks_like_html(PAGE)
    assert not looks_like_html("Prices rose 3% <b>this</b> year.\n\nA plain paragraph.")
    result = clean(_raw(PAGE, ContentType.TEXT))
    assert result.extractor.startswith("auto+")
    assert result.title == "Harbour tunnel opens to traffic"


def test_json_with_html_field_uses_the_html_extractor_and_its_own_fields() -> None:
    body = json.dumps({"title": "Given title", "html": PAGE, "author": "Ed Itor"})
    result = clean(_raw(body, ContentType.JSON))
    assert result.title == "Given title"
    assert result.authors == ["Ed Itor"]
    assert result.extractor.startswith("json+")
    assert "harbour tunnel opened" in result.text


def test_json_with_text_field_keeps_a_short_article() -> None:
    body = json.dumps({"title": "T", "text": "Para one is here.\n\nPara two is here.", "url": "u"})
    result = clean(_raw(body, ContentType.JSON))
    assert result.paragraphs == ["Para one is here.", "Para two is here."]
    assert result.canonical_url == "u"


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"a string"'])
def test_bad_json_is_an_error(body: str) -> None:
    with pytest.raises(CleanError) as info:
        clean(_raw(body, ContentType.JSON))
    assert info.value.reason == "bad_json"


def test_bad_json_says_where_the_parser_stopped() -> None:
    """The message gave the character offset ("Expecting value at 23"), not line and column."""
    with pytest.raises(CleanError) as info:
        clean(_raw('{"title": "x",\n "text": bad}', ContentType.JSON))
    assert info.value.message == "not valid JSON: Expecting value at line 2, column 10"


def test_settings_limit_applies() -> None:
    with pytest.raises(CleanError) as info:
        clean(_raw(PAGE, ContentType.HTML), Limits(max_input_bytes=100))
    assert info.value.reason == "too_large"


def test_source_hints_fill_missing_metadata() -> None:
    page = "<html><body>" + "<p>A long enough paragraph of article text here.</p>" * 10
    raw = _raw(page, ContentType.HTML, metadata={"title": "Feed title", "published": "2026-01-02"})
    result = clean(raw)
    assert result.title == "Feed title"
    assert result.published_at is not None and result.published_at.year == 2026


def test_clean_file_reads_gzip_and_to_article_fingerprints(tmp_path: Path) -> None:
    path = tmp_path / "page.html.gz"
    path.write_bytes(gzip.compress(PAGE.encode()))
    assert clean_file(path).title == "Harbour tunnel opens to traffic"
    raw = raw_from_file(path)
    assert raw.content_type == ContentType.HTML
    article = to_article(raw, clean(raw))
    assert article.body and article.text.startswith("The harbour tunnel")
    assert len(article.content_hash) == 64 and len(article.simhash) == 16
    assert len(article.minhash) == 64
    assert article.byline == ["Aisha Khan", "Tom Berg"]


def test_errors_survive_a_process_boundary() -> None:
    # `newsflow clean --workers N` and the eval return or raise them across a process pool.
    for error in (CleanError("empty", "no text"),):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (copy.reason, copy.message, str(copy)) == (error.reason, error.message, str(error))
    dead = pickle.loads(pickle.dumps(PermanentError("clean", "binary", "NUL bytes")))
    assert (dead.stage, dead.reason, dead.message) == ("clean", "binary", "NUL bytes")
