"""The schemas, both cleaners (HTML and whole-page text), decoding, the search request and the
hit printer, fed anything: a value or a typed failure with a reason, never another exception.
"""

from __future__ import annotations

import io
import json

import pytest
from hostile import (
    article_html,
    article_like,
    awkward_text,
    html_text,
    huge,
    json_values,
    nested,
    random_bytes,
    tiny,
)
from hypothesis import event, example, given
from hypothesis import strategies as st
from pydantic import ValidationError
from rich.console import Console

from consumers.cleaning import clean
from newsflow.cli.printing import matches_header, print_hits
from newsflow.elastic.hits import Hit
from newsflow.reading.decode import decode_body
from newsflow.search import Markers, QueryError, SearchFilters, build_query, check_request
from newsflow.settings import Limits
from schemas.article import Article, ContentType, DeadLetter, RawArticle
from schemas.failures import CleanError
from schemas.reasons import CleanReason

pytestmark = pytest.mark.timeout(900)

LIMITS = Limits(max_input_bytes=64 * 1024, clean_timeout_seconds=10)


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


@given(
    raw=st.one_of(
        random_bytes,
        tiny(),
        json_values.map(lambda v: json.dumps(v).encode()),
        nested("[", "]").map(str.encode),
        nested('{"a":', "}").map(str.encode),
    ),
    model=st.sampled_from([RawArticle, Article, DeadLetter]),
)
def test_messages_parse_or_fail_validation(
    raw: bytes, model: type[RawArticle] | type[Article] | type[DeadLetter]
) -> None:
    try:
        parsed = model.model_validate_json(raw)
    except ValidationError as exc:
        assert exc.errors()
    else:
        model.model_validate_json(parsed.model_dump_json())


@given(
    body=st.one_of(
        random_bytes,
        tiny(),
        awkward_text.map(_text),
        html_text.map(_text),
        article_like().map(_text),
        article_html.map(_text),
        nested("[", "]").map(str.encode),
        nested('{"text":', "}").map(str.encode),
        nested("[", "]").map(
            lambda j: (
                f'<html><script type="application/ld+json">{j[:20_000]}</script>'
                "<body><p>Iron ore prices rose sharply this week, officials said.</p></body>"
                "</html>".encode()
            )
        ),
        huge(random_bytes, LIMITS.max_input_bytes),
    ),
    content_type=st.sampled_from(list(ContentType)),
    declared=st.one_of(st.none(), st.sampled_from(["utf-8", "latin-1", "gbk", "utf-16", "x"])),
)
# Found by this property in CI: a text page of one ESC normalized to no blocks at all.
@example(body=b"\x1b", content_type=ContentType.TEXT, declared=None)
def test_cleaning_yields_text_or_a_reason(
    body: bytes, content_type: ContentType, declared: str | None
) -> None:
    raw = RawArticle(
        id="p", source="property", content_type=content_type, body=body, encoding=declared
    )
    try:
        extracted = clean(raw, LIMITS)
    except CleanError as exc:
        assert isinstance(exc.reason, CleanReason) and exc.message.strip()
        event(f"rejected: {exc.reason}")
    else:
        assert extracted.paragraphs and all(p.strip() for p in extracted.paragraphs)
        event(f"cleaned by {extracted.extractor}")


@given(body=st.one_of(random_bytes, huge(random_bytes, 4096), awkward_text.map(_text)))
def test_decoding_yields_text_or_a_reason(body: bytes) -> None:
    try:
        text = decode_body(body, None, ContentType.TEXT, max_bytes=4096)
    except CleanError as exc:
        assert exc.reason in (CleanReason.EMPTY, CleanReason.BINARY, CleanReason.TOO_LARGE)
    else:
        assert isinstance(text, str)


filters = st.builds(
    SearchFilters,
    site=st.one_of(st.none(), awkward_text),
    language=st.one_of(st.none(), awkward_text),
    entity=st.one_of(st.none(), awkward_text),
    topic=st.one_of(st.none(), awkward_text),
)


@given(
    text=st.one_of(awkward_text, huge(st.just(b"a "), 1200).map(bytes.decode)),
    found=filters,
    size=st.integers(-10, 20_000),
)
def test_search_requests_are_built_or_refused(text: str, found: SearchFilters, size: int) -> None:
    try:
        check_request(text, size)
    except QueryError as exc:
        assert str(exc)
        return
    markers = Markers.fresh()
    body = build_query(text, found, size, markers)
    assert json.loads(json.dumps(body)) == body  # plain JSON, whatever the text
    assert body["highlight"]["pre_tags"] == [markers.start]


@given(
    title=st.one_of(awkward_text, st.text(min_size=1, max_size=50).map(lambda w: w * 2000)),
    passage=awkward_text,
    names=st.lists(awkward_text, max_size=8),
)
def test_any_stored_text_prints(title: str, passage: str, names: list[str]) -> None:
    markers = Markers.fresh()
    hit = Hit.of(
        {
            "_id": "h",
            "_source": {"title": title, "site": passage, "tags": {"persons": names}},
            "highlight": {"body": [f"{passage}{markers.start}{title[:20]}{markers.end}{passage}"]},
        }
    )
    console = Console(file=io.StringIO(), width=100)
    print_hits(console, matches_header(1, "article(s) match", title), [hit], markers)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b" not in out and len(out) < 10_000
