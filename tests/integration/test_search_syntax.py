"""What a reader types into `newsflow search`, in the real Elasticsearch: "phrases", OR,
-exclusions, prefix*, typographic quotes and unbalanced syntax find what they say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch
from indexed_articles import article, index_articles

from newsflow.elastic.index import ensure_index
from newsflow.normalize import normalize_text
from newsflow.search import SearchFilters, search
from newsflow.settings import Settings
from schemas import Article, Tags

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _article(doc_id: str, title: str, text: str, age: timedelta | None) -> Article:
    published = NOW - age if age is not None else None
    return article(
        doc_id, text, url=f"https://example.com/{doc_id}", title=title, published=published
    )


ARTICLES = [
    _article("ore", "Prices rise", "Iron ore prices rose as China imports grew.", None),
    _article("gate", "Mine news", "The iron gate of the mine was painted. Ore fell.", None),
    _article("steel", "Mill news", "Steel output fell at the northern mill.", None),
    _article("vote", "Vote", "Norway holds elections; the election was close.", None),
]


def _ids(es: Elasticsearch, settings: Settings, text: str) -> list[str]:
    return sorted(h.id for h in search(es, settings, text, SearchFilters()).hits)


def test_query_syntax_means_what_the_reader_typed(es: Elasticsearch, settings: Settings) -> None:
    ensure_index(es, settings.index)
    index_articles(es, settings, ARTICLES)

    assert _ids(es, settings, "iron ore") == ["gate", "ore"]
    # A quoted phrase: only the page with the words together (quotes were ignored).
    assert _ids(es, settings, '"iron ore"') == ["ore"]
    assert _ids(es, settings, "\u201ciron ore\u201d") == ["ore"]
    assert _ids(es, settings, "\u201eiron ore\u201c") == ["ore"]
    # Either word (the word "or" was required, and nothing matched).
    assert _ids(es, settings, "iron OR steel") == ["gate", "ore", "steel"]
    assert _ids(es, settings, "iron | steel") == ["gate", "ore", "steel"]
    # An exclusion ("-gate" required "gate": the one page not wanted was the one found).
    assert _ids(es, settings, "iron -gate") == ["ore"]
    assert _ids(es, settings, "iron NOT gate") == ["ore"]
    # A prefix, in any case (a word with "*" matched nothing).
    assert _ids(es, settings, "Elect*") == ["vote"]
    # Unbalanced syntax is read as words, never an error.
    assert _ids(es, settings, '"iron ore') == ["gate", "ore"]
    assert _ids(es, settings, "(iron") == ["gate", "ore"]
    assert _ids(es, settings, "iron)") == ["gate", "ore"]
    # A hyphenated word is a word, not an exclusion.
    assert _ids(es, settings, "iron-ore") == ["gate", "ore"]


def test_plain_words_rank_the_exact_phrase_first(es: Elasticsearch, settings: Settings) -> None:
    ensure_index(es, settings.index)
    index_articles(es, settings, ARTICLES)
    found = search(es, settings, "iron ore", SearchFilters())
    assert [h.id for h in found.hits] == ["ore", "gate"]
    # The match is highlighted in the snippet.
    (passage,) = found.hits[0].snippets
    assert [text for text, marked in found.markers.spans(passage) if marked] == ["Iron ore"]


def test_an_empty_query_lists_the_newest_first(es: Elasticsearch, settings: Settings) -> None:
    ensure_index(es, settings.index)
    # Indexed oldest-first-but-one: index order is not the answer.
    articles = [
        _article("month", "A", "Harbour news.", timedelta(days=30)),
        _article("year", "B", "Harbour news.", timedelta(days=400)),
        _article("undated", "C", "Harbour news.", None),  # counts from its ingestion: now
        _article("day", "D", "Harbour news.", timedelta(days=1)),
        _article("hour", "E", "Harbour news.", timedelta(hours=1)),
    ]
    index_articles(es, settings, articles)
    for one_per_story in (True, False):
        found = search(es, settings, " ", SearchFilters(), one_per_story=one_per_story)
        assert [h.id for h in found.hits] == ["undated", "hour", "day", "month", "year"]


def test_a_query_copied_from_a_page_finds_the_text_as_it_is_stored(
    es: Elasticsearch, settings: Settings
) -> None:
    """A query copied from a page or typed with smart punctuation ("O’Reilly", with a curly
    apostrophe) or on a system that decomposes accents found nothing: the cleaner stores
    straight apostrophes and NFC, and the analyzer kept "o’reilly" one token."""
    ensure_index(es, settings.index)
    # As the cleaner stores it (newsflow/normalize.py).
    text = normalize_text("O\u2019Reilly said the d\u00e9bat was over, and we don\u2019t know.")
    named = article("named", text, tags=Tags(language="en", persons=["Sean O'Brien"]))
    index_articles(es, settings, [named])
    for typed in ("O\u2019Reilly", "don\u2019t know", "de\u0301bat", '"O\u2019Reilly said"'):
        assert _ids(es, settings, typed) == ["named"], typed
    found = search(es, settings, "", SearchFilters(entity="O\u2019Brien"))
    assert [h.id for h in found.hits] == ["named"]
