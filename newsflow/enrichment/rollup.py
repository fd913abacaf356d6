"""Entity roll-up: how central each entity is to an article, and per-entity counters.

Salience is computed from where and how often the tagger's entities are mentioned: the title
counts most, the lead paragraph next, the rest of the body least. It is written to the
article's ``salience`` field. Counters (articles, stories, first and last seen) live in
``settings.index.entities``, one document per entity; they are recomputed from the article
index by aggregation for every entity a run touches, so they are absolute values and a re-run
cannot double-count (the test distribution has no scripts for increments anyway). Each run
also re-counts the counters least recently updated (``sweep_counters``), so an entity that
articles stopped naming loses its counter instead of keeping it for good.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers

from newsflow.elastic.hits import StoredArticle
from newsflow.elastic.index import ensure_plain_index
from newsflow.enrichment.es import bulk_update, pending, refresh, versions_of
from newsflow.settings import Settings

log = logging.getLogger(__name__)

STAGE = "rollup"
#: The stamp an article lacks until it is rolled up.
PENDING_FIELD = "enrichment.rolled_up_at"
#: An article rarely has more than a handful of central entities; the long tail is noise.
MAX_SALIENT = 20

_TITLE_WEIGHT = 3.0
_LEAD_WEIGHT = 2.0
_BODY_WEIGHT = 1.0
# An entity the tagger found but whose surface form we cannot locate (e.g. normalized) still
# matters a little.
_FLOOR = 0.5


@dataclass(frozen=True)
class Salient:
    """One entity of an article with its salience score in (0, 1]."""

    value: str
    label: str | None
    score: float

    def as_doc(self) -> dict[str, Any]:
        return {"value": self.value, "label": self.label, "score": round(self.score, 4)}


def article_entities(src: StoredArticle) -> dict[str, str | None]:
    """The article's entities (value -> label) from its tags, first label seen wins."""
    tags = src.tags
    out: dict[str, str | None] = {}
    for tag in tags.entities:
        if tag.value.strip():
            out.setdefault(tag.value.strip(), tag.label)
    for values, label in (
        (tags.persons, "PER"),
        (tags.organizations, "ORG"),
        (tags.locations, "LOC"),
    ):
        for value in values:
            if value.strip():
                out.setdefault(value.strip(), label)
    return out


def _mentions(name: str, text: str) -> int:
    if not text:
        return 0
    return len(re.findall(r"(?<!\w)" + re.escape(name.lower()) + r"(?!\w)", text.lower()))


def salience(src: StoredArticle, limit: int = MAX_SALIENT) -> list[Salient]:
    """Entities of an article ranked by weighted mention counts, scaled so the top one is 1."""
    entities = article_entities(src)
    if not entities:
        return []
    title = src.title or ""
    body = src.body
    lead = body[0] if body else ""
    rest = "\n".join(body[1:])
    raw: dict[str, float] = {}
    for value in entities:
        weight = (
            _TITLE_WEIGHT * _mentions(value, title)
            + _LEAD_WEIGHT * _mentions(value, lead)
            + _BODY_WEIGHT * _mentions(value, rest)
        )
        raw[value] = weight or _FLOOR
    top = max(raw.values())
    ranked = sorted(raw.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [Salient(value=v, label=entities[v], score=w / top) for v, w in ranked]


def entity_doc_id(value: str) -> str:
    """Stable id of an entity's counter document: one per spelling, as the counters are
    counted (an id of the lower-cased name let "Nato" and "NATO" overwrite each other's)."""
    return hashlib.blake2b(value.encode("utf-8"), digest_size=12).hexdigest()


def _drop_lowercase_keyed(es: Elasticsearch, settings: Settings, values: Iterable[str]) -> None:
    """Deletes what earlier versions wrote for these spellings under the lower-cased name's
    id (only a document that holds that very spelling: the id may be another's now)."""
    old = {entity_doc_id(v.lower()): v for v in values if v != v.lower()}
    if not old:
        return
    # mget and delete, not _delete_by_query: distributions without the reindex module (the
    # local stack's) have no such endpoint.
    docs = es.mget(index=settings.index.entities, ids=sorted(old), source_includes=["value"])
    stale = [
        d["_id"]
        for d in docs["docs"]
        if d.get("found") and (d.get("_source") or {}).get("value") == old[d["_id"]]
    ]
    if stale:
        helpers.bulk(
            es,
            ({"_op_type": "delete", "_index": settings.index.entities, "_id": i} for i in stale),
            raise_on_error=False,
        )


def entities_mappings() -> dict[str, Any]:
    """Mapping of the per-entity counters index."""
    return {
        "dynamic": "strict",
        "properties": {
            "value": {"type": "keyword", "ignore_above": 256},
            "label": {"type": "keyword"},
            "articles": {"type": "long"},
            "stories": {"type": "long"},
            "first_seen": {"type": "date"},
            "last_seen": {"type": "date"},
            "updated_at": {"type": "date"},
        },
    }


def ensure_entities_index(es: Elasticsearch, settings: Settings) -> None:
    """Creates the counters index if missing; idempotent."""
    ensure_plain_index(es, settings.index.entities, entities_mappings())


def entity_counters(
    es: Elasticsearch, settings: Settings, values: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Absolute counters for ``values``, aggregated from the article index."""
    wanted = sorted(set(values))
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        resp = es.search(
            index=settings.index.alias,
            query={"terms": {"salience.value": chunk}},
            size=0,
            aggs={
                "entity": {
                    "terms": {"field": "salience.value", "include": chunk, "size": len(chunk)},
                    "aggs": {
                        "stories": {"cardinality": {"field": "story_id"}},
                        "first": {"min": {"field": "ingested_at"}},
                        "last": {"max": {"field": "ingested_at"}},
                    },
                }
            },
        )
        for bucket in resp["aggregations"]["entity"]["buckets"]:
            out[bucket["key"]] = {
                "articles": bucket["doc_count"],
                "stories": bucket["stories"]["value"],
                "first_seen": bucket["first"].get("value_as_string"),
                "last_seen": bucket["last"].get("value_as_string"),
            }
    return out


#: Counters re-counted per run besides those its articles touched (see ``sweep_counters``).
SWEEP_SIZE = 1_000


def sweep_counters(
    es: Elasticsearch,
    settings: Settings,
    before: datetime,
    now: datetime | None = None,
    size: int = SWEEP_SIZE,
) -> int:
    """Re-counts the ``size`` counters least recently updated before ``before``, and deletes
    those no article names any more; returns how many it looked at.

    A run refreshes the counters of the entities its articles have now; an entity an article
    no longer has (a correction rewrites the article, dropping its salience) was never looked
    at again and kept counting it for good, as did a story count after clustering merged the
    stories. Sweeping the oldest counters every run brings each back to the truth within
    (number of entities / ``size``) runs, at the cost of one aggregation per 500 of them.
    """
    resp = es.search(
        index=settings.index.entities,
        query={"range": {"updated_at": {"lt": before.isoformat()}}},
        sort=[{"updated_at": "asc"}],
        size=size,
        source_includes=["value", "label"],
    )
    stored = {
        h["_id"]: (h["_source"]["value"], h["_source"].get("label"))
        for h in resp["hits"]["hits"]
        if h.get("_source", {}).get("value")
    }
    if not stored:
        return 0
    counters = entity_counters(es, settings, (value for value, _ in stored.values()))
    stamp = (now or datetime.now(UTC)).isoformat()

    def actions() -> Iterable[dict[str, Any]]:
        for doc_id, (value, label) in stored.items():
            # Under another id than its spelling's: an earlier version's lower-cased key
            # (what _drop_lowercase_keyed removes), which would otherwise stay the oldest.
            if value not in counters or doc_id != entity_doc_id(value):
                yield {"_op_type": "delete", "_index": settings.index.entities, "_id": doc_id}
                continue
            source = {"value": value, "label": label, **counters[value], "updated_at": stamp}
            yield {
                "_op_type": "index",
                "_index": settings.index.entities,
                "_id": doc_id,
                "_source": source,
            }

    # 404: a concurrent run deleted it first.
    helpers.bulk(es, actions(), ignore_status=404)
    es.indices.refresh(index=settings.index.entities)
    return len(stored)


_ROLLUP_SOURCE = ["id", "title", "body", "tags", "enrichment.stages"]


def rollup_pending(
    es: Elasticsearch,
    settings: Settings,
    batch_size: int = 500,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    limit: int | None = None,
) -> int:
    """Writes salience for articles not rolled up yet, then refreshes their entities' counters.

    ``progress`` is called with the number of articles of each batch done. ``limit`` caps one
    run (the rest waits for the next), so that a backlog does not outlive the task's timeout.
    """
    ensure_entities_index(es, settings)
    refresh(es, settings)
    started = now or datetime.now(UTC)
    done = 0
    while True:
        size = batch_size if limit is None else min(batch_size, limit - done)
        batch = pending(es, settings, PENDING_FIELD, size, _ROLLUP_SOURCE) if size > 0 else []
        if not batch:
            swept = sweep_counters(es, settings, before=started, now=now)
            if swept:
                log.info("re-counted %d entity counters not touched lately", swept)
            return done
        stamp = (now or datetime.now(UTC)).isoformat()
        updates: dict[str, dict[str, Any]] = {}
        labels: dict[str, str | None] = {}
        for hit in batch:
            ranked = salience(hit.source)
            labels.update({s.value: s.label for s in ranked})
            stages = set(hit.source.enrichment.stages)
            updates[hit.id] = {
                "salience": [s.as_doc() for s in ranked],
                "enrichment": {"rolled_up_at": stamp, "stages": sorted(stages | {STAGE})},
            }
        bulk_update(es, settings, updates, versions=versions_of(batch))
        refresh(es, settings)
        counters = entity_counters(es, settings, labels)
        _drop_lowercase_keyed(es, settings, counters)
        helpers.bulk(
            es,
            (
                {
                    "_op_type": "index",
                    "_index": settings.index.entities,
                    "_id": entity_doc_id(value),
                    "_source": {
                        "value": value,
                        "label": labels.get(value),
                        **c,
                        "updated_at": stamp,
                    },
                }
                for value, c in counters.items()
            ),
        )
        es.indices.refresh(index=settings.index.entities)
        done += len(batch)
        if progress is not None:
            progress(len(batch))
        log.info("rolled up %d articles, %d entities", len(batch), len(counters))
