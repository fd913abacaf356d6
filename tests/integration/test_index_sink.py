"""The index sink's upsert against the real Elasticsearch: what a re-ingested article keeps.

A replay of the same text must keep what the enrichment DAG added (embedding, story id); a new
text under the same id (a corrected story) must drop what was derived from the old text, so the
DAG enriches it again.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch
from kafka.consumer.fetcher import ConsumerRecord

from consumers.cleaning.model import Extracted
from consumers.process import build_article
from consumers.sinks import ElasticsearchSink
from newsflow.elastic.index import ensure_index
from newsflow.enrichment.embeddings import embed_pending
from newsflow.enrichment.es import bulk_update, pending, versions_of
from newsflow.settings import Settings
from schemas import Article, ContentType, RawArticle, Tags
from schemas.failures import TransientError

pytestmark = pytest.mark.integration

FIRST = "The harbour board approved the new container terminal on Monday, officials said."
CORRECTED = "The harbour board rejected the new container terminal on Monday, officials said."


def _article(text: str) -> Article:
    raw = RawArticle(
        id="sink-1",
        source="test://sink/1",
        url="https://news.example.org/2026/11/terminal",
        content_type=ContentType.TEXT,
        body=text.encode(),
    )
    return build_article(raw, Extracted(paragraphs=[text], extractor="test"), Tags())


def _record(offset: int) -> ConsumerRecord:
    return ConsumerRecord("news.clean", 0, -1, offset, 0, 0, None, b"", [], None, 0, 0, 0)


def _stored(es: Elasticsearch, settings: Settings, doc_id: str) -> dict[str, Any]:
    """The stored article, with its vector (Elasticsearch 9 leaves vectors out of _source)."""
    es.indices.refresh(index=settings.index.alias)
    hit = es.search(
        index=settings.index.alias,
        query={"ids": {"values": [doc_id]}},
        fields=[{"field": "embedding"}],
        size=1,
    )["hits"]["hits"][0]
    source: dict[str, Any] = dict(hit["_source"])
    vector = (hit.get("fields") or {}).get("embedding")
    if vector:
        source["embedding"] = vector
    return source


def _write(es: Elasticsearch, settings: Settings, article: Article, offset: int) -> dict[str, Any]:
    sink = ElasticsearchSink(es, settings.index.alias)
    sink.add(article, _record(offset))
    assert sink.flush() == []
    return _stored(es, settings, article.id)


def test_replay_keeps_enrichment_and_changed_text_drops_it(
    es: Elasticsearch, settings: Settings
) -> None:
    ensure_index(es, settings.index)
    first = _article(FIRST)
    _write(es, settings, first, 0)
    assert embed_pending(es, settings) == 1
    es.update(index=settings.index.alias, id=first.id, doc={"story_id": "story-1"})

    replayed = _write(es, settings, first, 1)
    assert replayed["body"] == [FIRST]
    assert len(replayed["embedding"]) == 384
    assert replayed["story_id"] == "story-1"
    assert "embed" in replayed["enrichment"]["stages"]
    assert embed_pending(es, settings) == 0  # nothing to redo for the same text

    corrected = _article(CORRECTED)
    assert corrected.id == first.id and corrected.content_hash != first.content_hash
    changed = _write(es, settings, corrected, 2)
    assert changed["body"] == [CORRECTED]
    assert changed["content_hash"] == corrected.content_hash
    assert "embedding" not in changed and "enrichment" not in changed
    assert es.count(index=settings.index.alias)["count"] == 1
    # The DAG's next run embeds the corrected text.
    assert embed_pending(es, settings) == 1
    again = _stored(es, settings, first.id)
    assert len(again["embedding"]) == 384 and "embed" in again["enrichment"]["stages"]


def test_enrichment_computed_from_the_old_text_does_not_land_on_the_corrected_one(
    es: Elasticsearch, settings: Settings
) -> None:
    ensure_index(es, settings.index)
    _write(es, settings, _article(FIRST), 0)
    # A stage reads its pending batch...
    batch = pending(es, settings, "enrichment.embedded_at", 10, ["id", "body"])
    assert [hit.id for hit in batch] == ["sink-1"]
    # ...the index worker writes a corrected text meanwhile...
    _write(es, settings, _article(CORRECTED), 1)
    # ...and the stage's result for the old text is skipped, not written and not an error.
    stale = {"sink-1": {"enrichment": {"embedded_at": "2026-11-24T00:00:00+00:00"}}}
    assert bulk_update(es, settings, stale, versions=versions_of(batch)) == 0
    assert "enrichment" not in _stored(es, settings, "sink-1")
    # Without a version (a field that does not depend on the text) the update applies.
    assert bulk_update(es, settings, {"sink-1": {"story_size": 1}}) == 1
    # The article is still pending, and the next run embeds the corrected text.
    assert embed_pending(es, settings) == 1
    stored = _stored(es, settings, "sink-1")
    assert stored["body"] == [CORRECTED] and len(stored["embedding"]) == 384


def _summary_or_page(text: str, summary: bool) -> Article:
    article = _article(text)
    return article.model_copy(update={"summary_only": summary})


def test_a_summary_never_replaces_an_indexed_page(
    stack: Any, settings: Settings, es: Elasticsearch
) -> None:
    ensure_index(es, settings.index)
    sink = ElasticsearchSink(es, settings.index.alias)
    summary = _summary_or_page("One line about the terminal.", summary=True)
    page = _summary_or_page(FIRST, summary=False)
    sink.add(summary, _record(0))
    sink.flush()
    assert _stored(es, settings, "sink-1")["summary_only"] is True
    sink.add(page, _record(1))  # the page replaces its summary
    sink.flush()
    stored = _stored(es, settings, "sink-1")
    assert (stored["summary_only"], stored["body"]) == (False, [FIRST])
    sink.add(summary, _record(2))  # a later summary (a re-poll, a failed refetch) is dropped
    assert sink.flush() == []
    stored = _stored(es, settings, "sink-1")
    assert (stored["summary_only"], stored["body"]) == (False, [FIRST])
    # In one batch too: the page first, then its summary.
    es.delete(index=settings.index.alias, id="sink-1", refresh=True)
    sink.add(page, _record(3))
    sink.add(summary, _record(4))
    sink.flush()
    stored = _stored(es, settings, "sink-1")
    assert (stored["summary_only"], stored["body"]) == (False, [FIRST])


def test_an_id_twice_in_one_batch_is_written_once_and_nothing_is_rejected(
    es: Elasticsearch, settings: Settings
) -> None:
    # New ids go in with `create`; the later copies of an id conflict with the first and take
    # the lookup path (update, or a conditional write for a changed text) in a second request.
    ensure_index(es, settings.index)
    sink = ElasticsearchSink(es, settings.index.alias)
    sink.add(_article(FIRST), _record(0))
    sink.add(_article(FIRST), _record(1))
    sink.add(_article(CORRECTED), _record(2))
    # In that second request the update of the first text comes before the conditional write
    # of the corrected one, which so finds a newer version: refused for now, kept, and
    # written by the loop's retry of the flush.
    with pytest.raises(TransientError):
        sink.flush()
    assert sink.flush() == []
    assert sink.pending() == 0
    stored = _stored(es, settings, "sink-1")
    assert stored["body"] == [CORRECTED]
    assert es.count(index=settings.index.alias)["count"] == 1


def test_an_overlong_site_does_not_cost_the_article(es: Elasticsearch, settings: Settings) -> None:
    """The clean stage caps the site name; an Article from an older clean worker with a
    40,000-character one is still indexed (the keyword is not), not dead-lettered."""
    ensure_index(es, settings.index)
    article = _article(FIRST).model_copy(update={"site": "Example News " * 3000})
    stored = _write(es, settings, article, 0)
    assert stored["body"] == [FIRST] and len(stored["site"]) == len(article.site or "")


class _Refusing:
    """A real HTTP proxy on loopback in front of Elasticsearch that answers 429 (queue full)
    to the first ``refuse`` lookups (_mget) and to every bulk request holding
    ``refuse_bulk_with``, and counts the bulk requests it forwards (``bulks``) and the
    actions in each (``bulk_sizes``)."""

    def __init__(self, target: str, refuse: int, refuse_bulk_with: bytes | None = None) -> None:
        self.target = urlsplit(target)
        self.refuse = refuse
        self.refuse_bulk_with = refuse_bulk_with
        self.bulks = 0
        self.bulk_sizes: list[int] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "_mget" in self.path and proxy.refuse > 0:
                    proxy.refuse -= 1
                    self._answer(429, b'{"error":{"type":"es_rejected_execution_exception"}}')
                    return
                if "_bulk" in self.path:
                    marker = proxy.refuse_bulk_with
                    if marker is not None and marker in body:
                        self._answer(429, b'{"error":{"type":"es_rejected_execution_exception"}}')
                        return
                    with proxy.lock:  # the sink sends a batch's requests at once
                        proxy.bulks += 1
                        proxy.bulk_sizes.append(body.count(b"\n") // 2)
                upstream = http.client.HTTPConnection(
                    proxy.target.hostname or "127.0.0.1", proxy.target.port or 9200, timeout=60
                )
                keep = {"content-type", "accept", "authorization"}
                upstream.request(
                    self.command,
                    self.path,
                    body=body or None,
                    headers={k: v for k, v in self.headers.items() if k.lower() in keep},
                )
                answer = upstream.getresponse()
                self._answer(answer.status, answer.read(), answer.getheader("Content-Type"))
                upstream.close()

            def _answer(self, status: int, data: bytes, kind: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_refused_lookup_does_not_send_the_batch_again_as_creates(
    es: Elasticsearch, settings: Settings
) -> None:
    """An overloaded node answering 429 to the lookup of articles already indexed: the retry
    sent the whole batch again as creates (all 409 by then) before looking them up again, so
    each attempt added a batch of load and needed three requests in a row to succeed."""
    ensure_index(es, settings.index)
    article = _article(FIRST)
    _write(es, settings, article, 0)
    # The client tries each request 1 + max_retries times: one whole lookup refused.
    proxy = _Refusing(settings.es.url, refuse=1 + es.transport.max_retries)
    through = Elasticsearch(proxy.url)
    try:
        sink = ElasticsearchSink(through, settings.index.alias)
        sink.add(article, _record(1))
        with pytest.raises(TransientError, match="lookup refused"):
            sink.flush()
        assert proxy.bulks == 1 and sink.pending() == 1
        assert sink.flush() == []
        assert proxy.bulks == 2  # the create (409), then the update: not the create again
        assert sink.pending() == 0
    finally:
        through.close()
        proxy.stop()
    assert _stored(es, settings, article.id)["body"] == [FIRST]


def _many(n: int) -> list[Article]:
    return [_article(FIRST).model_copy(update={"id": f"conc-{i}"}) for i in range(n)]


def test_a_backlog_batch_goes_as_two_requests_at_once_and_an_ids_copies_keep_their_order(
    es: Elasticsearch, settings: Settings
) -> None:
    """A batch of 100 articles or more is split by id into requests sent together: both
    land, and an id sent twice (its text corrected) ends with the later text, as in one
    request."""
    ensure_index(es, settings.index)
    proxy = _Refusing(settings.es.url, refuse=0)
    through = Elasticsearch(proxy.url)
    try:
        sink = ElasticsearchSink(through, settings.index.alias, concurrency=2)
        articles = _many(150)
        for offset, article in enumerate(articles):
            sink.add(article, _record(offset))
        sink.add(_article(FIRST), _record(150))
        sink.add(_article(CORRECTED), _record(151))
        assert sink.flush() == []
        assert sink.pending() == 0
        # Two creates requests (all 152 articles), then the corrected copy's conditional write.
        creates = proxy.bulk_sizes[:2]
        assert sum(creates) == 152 and min(creates) >= 50
        assert proxy.bulk_sizes[2:] == [1]
    finally:
        through.close()
        proxy.stop()
    assert _stored(es, settings, "sink-1")["body"] == [CORRECTED]
    assert es.count(index=settings.index.alias)["count"] == 151


def test_a_refused_request_of_a_batch_sends_only_its_own_articles_again(
    es: Elasticsearch, settings: Settings
) -> None:
    """One of a batch's requests refused (the node overloaded): the other's articles stay
    written, the retry sends the refused ones alone, and nothing is written twice."""
    ensure_index(es, settings.index)
    proxy = _Refusing(settings.es.url, refuse=0, refuse_bulk_with=b'"_id": "conc-7"')
    through = Elasticsearch(proxy.url)
    try:
        sink = ElasticsearchSink(through, settings.index.alias, concurrency=2)
        for offset, article in enumerate(_many(120)):
            sink.add(article, _record(offset))
        with pytest.raises(TransientError, match="bulk request refused"):
            sink.flush()
        # One request went through; the articles it wrote are kept (their announcements
        # wait for the batch's next flush, as the refused articles do).
        assert len(proxy.bulk_sizes) == 1
        written = proxy.bulk_sizes[0]
        assert 0 < written < 120 and sink.pending() == 120
        es.indices.refresh(index=settings.index.alias)
        assert es.count(index=settings.index.alias)["count"] == written
        proxy.refuse_bulk_with = None
        assert sink.flush() == []
        assert sink.pending() == 0
        assert proxy.bulk_sizes == [written, 120 - written]  # the refused articles alone
    finally:
        through.close()
        proxy.stop()
    es.indices.refresh(index=settings.index.alias)
    assert es.count(index=settings.index.alias)["count"] == 120
