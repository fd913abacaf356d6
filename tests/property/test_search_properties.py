"""Any query text, through the real Elasticsearch: hits or a one-line refusal, never an error.

The pure request builder is covered in test_stage_properties.py; this sends what it builds
to the node, over an index holding an article, so analyzers and the highlighter see hostile
text too.
"""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from hostile import awkward_text
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from newsflow.elastic.index import ensure_index
from newsflow.search import QueryError, SearchFilters, search
from newsflow.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture
def indexed(es: Elasticsearch, settings: Settings) -> Settings:
    ensure_index(es, settings.index)
    es.index(
        index=settings.index.alias,
        id="a",
        document={
            "id": "a",
            "title": "Iron ore \u2984 [/bold] prices",
            "body": ["Iron ore prices rose. " * 20],
            "content_hash": "h",
            "simhash": "0",
        },
        refresh=True,
    )
    return settings


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(awkward_text, st.sampled_from(["iron", "iron ore", '"iron', "ore*", "a:b"])),
    site=st.one_of(st.none(), awkward_text),
    size=st.integers(-1, 1001),
)
def test_any_query_runs_or_is_refused(
    es: Elasticsearch, indexed: Settings, text: str, site: str | None, size: int
) -> None:
    try:
        found = search(es, indexed, text, SearchFilters(site=site), size)
    except QueryError as exc:
        assert str(exc)
        event("refused")
        return
    event("matched" if found.total else "no match")
    for hit in found.hits:
        for passage in hit.snippets:
            assert any(highlighted for _, highlighted in found.markers.spans(passage))
