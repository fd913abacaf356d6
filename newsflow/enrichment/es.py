"""Elasticsearch plumbing shared by the enrichment stages: pick pending work, write partial updates.

Every stage follows the same shape: a query selects the articles whose stage timestamp
(``enrichment.<stage>_at``) is missing, the stage computes, and the results go back as
partial ``update`` actions (``doc`` merges into the stored document), so fields written by
other stages or by the index worker are never lost and a re-run only does what is left.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers

from newsflow.elastic.hits import Hit, hits_of
from newsflow.settings import Settings


class EnrichmentWriteError(RuntimeError):
    """Some partial updates were rejected by Elasticsearch (the first errors are attached)."""


def _source_kwargs(source: Sequence[str] | bool) -> dict[str, Any]:
    if isinstance(source, bool):
        return {"source": source}
    return {"source_includes": list(source)}


def refresh(es: Elasticsearch, settings: Settings, index: str | None = None) -> None:
    """Makes recent writes visible to search, so the next ``pending`` query sees them."""
    es.indices.refresh(index=index or settings.index.alias)


def _pending_query(missing_field: str, extra_filter: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "bool": {
            "must_not": [{"exists": {"field": missing_field}}],
            "filter": list(extra_filter),
        }
    }


def count_pending(es: Elasticsearch, settings: Settings, missing_field: str) -> int:
    """How many articles lack ``missing_field`` (what a stage has left to do), after a refresh."""
    refresh(es, settings)
    resp = es.count(index=settings.index.alias, query=_pending_query(missing_field, ()))
    return int(resp["count"])


def pending(
    es: Elasticsearch,
    settings: Settings,
    missing_field: str,
    size: int,
    source: Sequence[str] | bool = True,
    extra_filter: Sequence[dict[str, Any]] = (),
) -> list[Hit]:
    """Up to ``size`` articles lacking ``missing_field``, oldest ingested first.

    Each hit carries ``_seq_no`` and ``_primary_term``: see ``versions`` of ``bulk_update``.
    """
    resp = es.search(
        index=settings.index.alias,
        query=_pending_query(missing_field, extra_filter),
        sort=[{"ingested_at": {"order": "asc", "unmapped_type": "date"}}, {"id": "asc"}],
        size=size,
        seq_no_primary_term=True,
        **_source_kwargs(source),
    )
    return hits_of(resp)


def versions_of(hits: Sequence[Hit]) -> dict[str, tuple[int, int]]:
    """``{id: (seq_no, primary_term)}`` of hits read with ``pending``."""
    return {h.id: h.version for h in hits if h.version is not None}


def bulk_update(
    es: Elasticsearch,
    settings: Settings,
    docs: Mapping[str, dict[str, Any]],
    index: str | None = None,
    versions: Mapping[str, tuple[int, int]] | None = None,
) -> int:
    """Applies ``{id: partial_doc}`` as update actions; returns how many were applied.

    An id in ``versions`` (from ``versions_of``) is updated only if the document is still
    the version the stage read: results computed from an article's text must not land on a
    corrected text the index worker wrote meanwhile. Such an update is skipped, not an
    error; the article is still pending and the next run computes it afresh. Raises
    EnrichmentWriteError if any other update is rejected.
    """
    if not docs:
        return 0
    target = index or settings.index.alias
    versions = versions or {}
    # A reindex copies again what was written while it copied (see maintenance.catch_up).
    stamp = {"updated_at": datetime.now(UTC).isoformat()}

    def actions() -> Iterator[dict[str, Any]]:
        for doc_id, doc in docs.items():
            action: dict[str, Any] = {
                "_op_type": "update",
                "_index": target,
                "_id": doc_id,
                "doc": {**doc, **stamp},
            }
            if doc_id in versions:
                action["if_seq_no"], action["if_primary_term"] = versions[doc_id]
            else:
                # Fields that do not depend on the text (another article's story size): a
                # concurrent write may bump the version; retrying merges them on top.
                action["retry_on_conflict"] = 3
            yield action

    ok, errors = helpers.bulk(
        es,
        actions(),
        chunk_size=settings.bulk.max_docs,
        max_chunk_bytes=settings.bulk.max_bytes,
        raise_on_error=False,
    )
    failed = [e for e in errors if not _stale(e, versions)] if isinstance(errors, list) else []
    if failed:
        raise EnrichmentWriteError(f"{len(failed)} updates rejected, first: {failed[:3]}")
    return int(ok)


def _stale(error: dict[str, Any], versions: Mapping[str, tuple[int, int]]) -> bool:
    """Whether a bulk error is a conditional update that found a newer document."""
    item = error.get("update") or {}
    return item.get("status") == 409 and item.get("_id") in versions


def scan(
    es: Elasticsearch,
    index: str,
    query: dict[str, Any] | None = None,
    page: int = 500,
    source: Sequence[str] | bool = True,
    fields: Sequence[str] = (),
) -> Iterator[Hit]:
    """Every matching hit of ``index``, paged with ``search_after`` on the ``id`` field.

    ``search_after`` instead of the scroll API: no server-side context to leak if a task is
    killed halfway, and the sort key (the article id) is unique, so no page repeats a hit.
    """
    after: list[Any] | None = None
    while True:
        kwargs: dict[str, Any] = {}
        if after is not None:
            kwargs["search_after"] = after
        if fields:
            kwargs["fields"] = [{"field": f} for f in fields]
        resp = es.search(
            index=index,
            query=query or {"match_all": {}},
            sort=[{"id": "asc"}],
            size=page,
            **_source_kwargs(source),
            **kwargs,
        )
        hits = hits_of(resp)
        if not hits:
            return
        yield from hits
        after = hits[-1].sort
