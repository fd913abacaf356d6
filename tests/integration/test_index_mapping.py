"""A field added to the article mapping reaches a live index, against the real Elasticsearch.

The mapping is strict, so an index created before ``tags.unsupported`` or ``extraction``
existed would reject every new article; ``ensure_index`` adds the new fields to it.
"""

from __future__ import annotations

import copy
import logging

import pytest
from elasticsearch import Elasticsearch
from kafka.consumer.fetcher import ConsumerRecord

from consumers.cleaning.model import Extracted
from consumers.process import build_article
from consumers.sinks import ElasticsearchSink
from newsflow.elastic.index import (
    TEXT_ANALYZER,
    article_mappings,
    ensure_index,
    index_name,
    text_analysis,
)
from newsflow.settings import Settings
from schemas import ContentType, RawArticle, Tags

pytestmark = pytest.mark.integration

TEXT = "Die Bundesregierung hat am Dienstag neue Regeln für den Ausbau der Windkraft beschlossen."


def test_ensure_index_adds_new_fields_to_an_older_live_index(
    es: Elasticsearch, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # The index as a release before tags.unsupported and extraction created it, when the
    # text fields still had the standard analyzer.
    old = copy.deepcopy(article_mappings("standard"))
    del old["properties"]["tags"]["properties"]["unsupported"]
    del old["properties"]["extraction"]
    name = index_name(settings.index)
    es.indices.create(
        index=name,
        settings={"number_of_shards": 1, "number_of_replicas": 0},
        mappings=old,
        aliases={settings.index.alias: {"is_write_index": True}},
    )

    with caplog.at_level(logging.WARNING, logger="newsflow.elastic.index"):
        assert ensure_index(es, settings.index) == name
    mapping = es.indices.get_mapping(index=name)[name]["mappings"]
    assert mapping["properties"]["tags"]["properties"]["unsupported"] == {"type": "keyword"}
    assert mapping["properties"]["extraction"]["properties"]["confidence"] == {"type": "float"}
    # The new fields went in although the text fields' analyzer changed since (on the
    # stack's node, newsflow_text): that change waits for a reindex, and says so.
    assert text_analysis(es).analyzer == TEXT_ANALYZER
    assert mapping["properties"]["body"].get("analyzer", "standard") == "standard"
    assert any("needs a reindex" in r.getMessage() for r in caplog.records)

    raw = RawArticle(
        id="mapping-1",
        source="test://mapping/1",
        content_type=ContentType.TEXT,
        body=TEXT.encode(),
    )
    tags = Tags(language="de", unsupported=["entities"])
    sink = ElasticsearchSink(es, settings.index.alias)
    record = ConsumerRecord("news.clean", 0, -1, 0, 0, 0, None, b"", [], None, 0, 0, 0)
    sink.add(build_article(raw, Extracted(paragraphs=[TEXT], extractor="test"), tags), record)
    assert sink.flush() == []
    es.indices.refresh(index=settings.index.alias)
    hits = es.search(index=settings.index.alias, query={"term": {"tags.unsupported": "entities"}})[
        "hits"
    ]["hits"]
    assert [h["_id"] for h in hits] == ["mapping-1"]
    # Idempotent: a second call changes nothing and does not fail.
    assert ensure_index(es, settings.index) == name
