"""Trends: the top entities, topics and stories over sliding windows, with their rise.

For each window (1 h, 24 h, 7 d) ending at ``end``, the top values of each kind are counted in
``[end - w, end)`` and compared with the previous window ``[end - 2w, end - w)``, by when the
articles were ingested, leaving out old news ingested late (``window_query``). One document per
(window end, window, kind, value) goes to ``settings.index.trends`` with a deterministic id, so
re-running the same hour overwrites rather than duplicates, and the rows of values that have
left the top since are deleted.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch, helpers

from newsflow.elastic.index import ensure_plain_index
from newsflow.settings import Settings

log = logging.getLogger(__name__)

#: Window name -> length.
WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
#: Trend kind -> the article field it counts.
KINDS: dict[str, str] = {
    "entity": "salience.value",
    "topic": "tags.topics.value",
    "story": "story_id",
}
#: When an article entered the pipeline; publication dates are missing or wrong too often.
TIME_FIELD = "ingested_at"
#: ...but an article published this long before a window starts is old news arriving late (a
#: sitemap's back catalogue on a first crawl, a WARC archive): it does not count in the window.
#: The slack leaves room for a page's date that is a day or two off.
OLD_NEWS = timedelta(days=2)


@dataclass(frozen=True)
class Trend:
    """One value's count in a window and its change against the previous window."""

    window: str
    kind: str
    value: str
    count: int
    previous: int
    rank: int

    @property
    def delta(self) -> int:
        return self.count - self.previous

    @property
    def rise(self) -> float:
        """Relative change; a value absent from the previous window rises by its count."""
        return (self.count - self.previous) / max(self.previous, 1)


def rank_trends(
    window: str, kind: str, current: dict[str, int], previous: dict[str, int], top: int
) -> list[Trend]:
    """The ``top`` values by current count (ties by rise, then value) with their previous counts."""
    ordered = sorted(
        current.items(),
        key=lambda kv: (-kv[1], -(kv[1] - previous.get(kv[0], 0)), kv[0]),
    )[:top]
    return [
        Trend(window, kind, value, count, previous.get(value, 0), rank)
        for rank, (value, count) in enumerate(ordered, start=1)
    ]


def hour_in_progress_end(now: datetime) -> datetime:
    """The end of the clock hour ``now`` is in (``now`` itself when it is on the hour)."""
    start = now.replace(minute=0, second=0, microsecond=0)
    return start if start == now else start + timedelta(hours=1)


def trend_doc_id(end: datetime, t: Trend) -> str:
    key = f"{end.isoformat()}|{t.window}|{t.kind}|{t.value}"
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).hexdigest()


def trends_mappings() -> dict[str, Any]:
    """Mapping of the trends index."""
    return {
        "dynamic": "strict",
        "properties": {
            "window": {"type": "keyword"},
            "kind": {"type": "keyword"},
            "value": {"type": "keyword", "ignore_above": 256},
            "count": {"type": "long"},
            "previous": {"type": "long"},
            "delta": {"type": "long"},
            "rise": {"type": "float"},
            "rank": {"type": "integer"},
            "window_start": {"type": "date"},
            "window_end": {"type": "date"},
            "computed_at": {"type": "date"},
        },
    }


def ensure_trends_index(es: Elasticsearch, settings: Settings) -> None:
    """Creates the trends index if missing; idempotent."""
    ensure_plain_index(es, settings.index.trends, trends_mappings())


def window_query(start: datetime, end: datetime) -> dict[str, Any]:
    """The articles that count in the window ``[start, end)``: ingested in it, and not
    published more than ``OLD_NEWS`` before it starts (undated ones count)."""
    fresh = {"range": {"published_at": {"gte": (start - OLD_NEWS).isoformat()}}}
    undated = {"bool": {"must_not": [{"exists": {"field": "published_at"}}]}}
    return {
        "bool": {
            "filter": [
                {"range": {TIME_FIELD: {"gte": start.isoformat(), "lt": end.isoformat()}}},
                {"bool": {"should": [fresh, undated], "minimum_should_match": 1}},
            ]
        }
    }


def _counts(
    es: Elasticsearch,
    settings: Settings,
    field: str,
    start: datetime,
    end: datetime,
    size: int,
    include: list[str] | None = None,
) -> dict[str, int]:
    terms: dict[str, Any] = {"field": field, "size": size}
    if include is not None:
        if not include:
            return {}
        terms["include"] = include
        terms["size"] = len(include)
    resp = es.search(
        index=settings.index.alias,
        query=window_query(start, end),
        size=0,
        aggs={"top": {"terms": terms}},
    )
    return {str(b["key"]): int(b["doc_count"]) for b in resp["aggregations"]["top"]["buckets"]}


def compute_trends(
    es: Elasticsearch, settings: Settings, end: datetime, top: int = 20
) -> list[Trend]:
    """Top values of every kind over every window ending at ``end``."""
    out: list[Trend] = []
    for window, length in WINDOWS.items():
        for kind, field in KINDS.items():
            current = _counts(es, settings, field, end - length, end, top)
            previous = _counts(
                es, settings, field, end - 2 * length, end - length, top, include=sorted(current)
            )
            out.extend(rank_trends(window, kind, current, previous, top))
    return out


def write_trends(
    es: Elasticsearch,
    settings: Settings,
    end: datetime | None = None,
    top: int = 20,
) -> int:
    """Computes the trends for the windows ending at ``end`` (default now) and stores them."""
    end = (end or datetime.now(UTC)).astimezone(UTC)
    ensure_trends_index(es, settings)
    es.indices.refresh(index=settings.index.alias)
    trends = compute_trends(es, settings, end, top)
    computed = datetime.now(UTC).isoformat()
    helpers.bulk(
        es,
        (
            {
                "_op_type": "index",
                "_index": settings.index.trends,
                "_id": trend_doc_id(end, t),
                "_source": {
                    "window": t.window,
                    "kind": t.kind,
                    "value": t.value,
                    "count": t.count,
                    "previous": t.previous,
                    "delta": t.delta,
                    "rise": round(t.rise, 4),
                    "rank": t.rank,
                    "window_start": (end - WINDOWS[t.window]).isoformat(),
                    "window_end": end.isoformat(),
                    "computed_at": computed,
                },
            }
            for t in trends
        ),
    )
    es.indices.refresh(index=settings.index.trends)
    dropped = _drop_left_the_top(es, settings, end, {trend_doc_id(end, t) for t in trends})
    log.info(
        "wrote %d trends for windows ending %s (%d rows of an earlier run dropped)",
        len(trends),
        end.isoformat(),
        dropped,
    )
    return len(trends)


def _drop_left_the_top(es: Elasticsearch, settings: Settings, end: datetime, keep: set[str]) -> int:
    """Deletes the rows of windows ending at ``end`` that this run did not write.

    The CLI within the hour, a retried task and the hour's DAG run all write the same window
    end; overwriting by id alone left a value that fell out of the top with its old count and
    rank beside the new top (two rank-1 stories, more rows than ``top``). Done after the new
    rows are written, so a reader never finds the window empty. Delete by query is not there
    (the local stack's distribution lacks the reindex module): ids are read, then deleted.
    """
    dropped = 0
    while True:
        resp = es.search(
            index=settings.index.trends,
            query={
                "bool": {
                    "filter": [{"term": {"window_end": end.isoformat()}}],
                    "must_not": [{"ids": {"values": sorted(keep)}}] if keep else [],
                }
            },
            size=1000,
            source=False,
        )
        stale = [h["_id"] for h in resp["hits"]["hits"]]
        if not stale:
            return dropped
        helpers.bulk(
            es,
            ({"_op_type": "delete", "_index": settings.index.trends, "_id": i} for i in stale),
            ignore_status=404,  # another run at the same end deleted it first
        )
        es.indices.refresh(index=settings.index.trends)
        dropped += len(stale)
