"""Index upkeep: client-side reindex with an atomic alias swap, consistency check, DLQ replay.

The local test distribution of Elasticsearch has no ``_reindex`` API, so the reindex copies
documents itself: page through the current index with ``search_after``, bulk-index into
``index_name(version + 1)`` (the template gives it the current mapping), check the counts,
swap the alias in one request, then copy again whatever was written to the old index while
the first copy ran (same ids overwrite, so the catch-up pass is safe).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch, helpers
from kafka.structs import TopicPartition

from consumers.dlq import replay
from consumers.sinks import document_fields
from newsflow.elastic.index import (
    current_index,
    ensure_index,
    index_name,
    install_template,
    swap_alias,
)
from newsflow.enrichment.es import scan
from newsflow.kafka.clients import make_consumer
from newsflow.settings import Settings
from schemas.article import safe_link

log = logging.getLogger(__name__)


class ReindexError(RuntimeError):
    """The new index does not hold what the old one did; the alias was left untouched."""


class ConsistencyError(RuntimeError):
    """Articles seen on the topics are missing from the index."""


@dataclass(frozen=True)
class ReindexResult:
    """What a reindex did."""

    old_index: str
    new_index: str
    copied: int
    caught_up: int
    count: int
    deleted: tuple[str, ...] = ()


def index_version(settings: Settings, name: str) -> int:
    """The version number in a concrete index name (``news-articles-v3`` -> 3)."""
    match = re.fullmatch(re.escape(settings.index.prefix) + r"(\d+)", name)
    if not match:
        raise ValueError(f"{name!r} is not a {settings.index.prefix}<N> index")
    return int(match.group(1))


def _copy_actions(
    es: Elasticsearch, source: str, target: str, query: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    # Elasticsearch 9 may leave dense vectors out of _source; ask for them as fields and put
    # them back, or the new index would lose every embedding.
    for hit in scan(es, source, query, source=True, fields=["embedding"]):
        doc = hit.document()  # as stored: a copy must not drop what no view knows about
        vector = hit.fields.get("embedding")
        if vector and "embedding" not in doc:
            doc["embedding"] = vector
        doc = with_safe_links(doc)
        # Computed afresh, as the index sink does: a document indexed before a field existed
        # gets it (found by `search --site` under its parent domains, listed newest-first
        # by a date that is never after its ingestion), one written before gets it anew.
        fields = document_fields(
            _text(doc.get("url")),
            _text(doc.get("source")),
            bool(doc.get("summary_only")),
            _moment(doc.get("published_at")),
            _moment(doc.get("ingested_at")),
        )
        for name, value in fields.items():
            if value is None:
                doc.pop(name, None)
            else:
                doc[name] = value
        yield {"_op_type": "index", "_index": target, "_id": hit.id, "_source": doc}


#: The fields of an indexed article that hold a link (schemas.article.LinkUrl).
LINK_FIELDS = ("url", "canonical_url", "image")


def with_safe_links(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with each link field as the pipeline stores it now: a ``javascript:`` (or any
    non-http(s)) link becomes null, and a login in a link is dropped (schemas' safe_link).

    Articles indexed before the pipeline refused such links kept them, and Kibana shows
    these fields for clicking; the reindex is where old documents catch up.
    """
    fixed = dict(doc)
    for name in LINK_FIELDS:
        value = doc.get(name)
        if isinstance(value, str):
            fixed[name] = safe_link(value)
        elif value is not None:
            fixed[name] = None  # not a string: no link any view could follow
    return fixed


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _moment(value: Any) -> datetime | None:
    """A stored date (ISO 8601, as the index sink writes it), or None if it is none."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def catch_up(es: Elasticsearch, old: str, new: str, since: datetime) -> int:
    """Copies into ``new`` the documents of ``old`` written since ``since``; returns how many.

    Written means ``updated_at``, which the index worker and every enrichment update stamp
    (a story relabelled, an embedding, salience); ``ingested_at`` as well, for documents an
    older version wrote. ``ingested_at`` alone, the cleaner's clock, missed an article that
    waited longer than the margin on the clean topic (a backlog) and every enrichment
    update: the new index served them as they were before the copy.
    """
    stamp = since.isoformat()
    query = {
        "bool": {
            "should": [
                {"range": {"updated_at": {"gte": stamp}}},
                {"range": {"ingested_at": {"gte": stamp}}},
            ],
            "minimum_should_match": 1,
        }
    }
    es.indices.refresh(index=old)
    copied, errors = helpers.bulk(es, _copy_actions(es, old, new, query), raise_on_error=False)
    if isinstance(errors, list) and errors:
        raise ReindexError(f"{len(errors)} documents failed in the catch-up copy: {errors[:3]}")
    es.indices.refresh(index=new)
    return int(copied)


def reindex(es: Elasticsearch, settings: Settings) -> ReindexResult:
    """Copies the alias's index into the next version and swaps the alias to it atomically."""
    install_template(es, settings.index)  # the new index must get the current mapping
    old = current_index(es, settings.index) or ensure_index(es, settings.index)
    new = index_name(settings.index, index_version(settings, old) + 1)
    if es.indices.exists(index=new):
        # Left over from a run that failed before the swap (the alias still points at old):
        # start it afresh rather than trust a half copy.
        if settings.index.alias in es.indices.get_alias(index=new).get(new, {}).get("aliases", {}):
            raise ReindexError(f"{new} already serves the alias {settings.index.alias}")
        es.indices.delete(index=new)
    es.indices.create(index=new, settings={"refresh_interval": "-1"})
    started = datetime.now(UTC)
    es.indices.refresh(index=old)
    copied, errors = helpers.bulk(es, _copy_actions(es, old, new), raise_on_error=False)
    if isinstance(errors, list) and errors:
        raise ReindexError(f"{len(errors)} documents failed to copy, first: {errors[:3]}")
    # Back to the template's (Elasticsearch's default) interval: null removes the override.
    es.indices.put_settings(index=new, settings={"refresh_interval": None})
    es.indices.refresh(index=new)
    es.indices.refresh(index=old)
    old_count = int(es.count(index=old)["count"])
    new_count = int(es.count(index=new)["count"])
    if new_count < old_count:
        raise ReindexError(f"{new} has {new_count} documents, {old} has {old_count}")
    swap_alias(es, settings.index, old, new)
    # Writes that reached the old index while we copied: copy them again (with a margin for
    # the clocks of the machines that stamped them).
    caught_up = catch_up(es, old, new, started - timedelta(minutes=5))
    count = int(es.count(index=settings.index.alias)["count"])
    log.info("reindexed %s -> %s: %d copied, %d caught up", old, new, copied, caught_up)
    deleted = prune_versions(es, settings, settings.index.keep_versions)
    return ReindexResult(old, new, int(copied), int(caught_up), count, deleted)


def prune_versions(es: Elasticsearch, settings: Settings, keep: int) -> tuple[str, ...]:
    """Deletes the article index versions older than the one the alias serves, except the
    newest ``keep`` of them; an index any alias still points at is never deleted."""
    serving = current_index(es, settings.index)
    if serving is None:
        return ()
    current = index_version(settings, serving)
    older: list[tuple[int, str]] = []
    for name, spec in es.indices.get_alias(index=f"{settings.index.prefix}*").items():
        try:
            version = index_version(settings, name)
        except ValueError:
            continue  # another index under the same prefix: not ours to delete
        if version < current and not spec.get("aliases"):
            older.append((version, name))
    doomed = tuple(name for _, name in sorted(older, reverse=True)[keep:])
    for name in doomed:
        es.indices.delete(index=name)
        log.info("deleted old index version %s", name)
    return doomed


# --- consistency check ---------------------------------------------------------------------


@dataclass
class TopicIds:
    """Distinct article ids on a topic, and how many messages carried them."""

    topic: str
    ids: set[str] = field(default_factory=set)
    messages: int = 0


def _record_id(key: bytes | None, value: bytes | None) -> str | None:
    if key:
        return key.decode("utf-8", "replace")
    # No key: the id is in the JSON value (RawArticle, Article and the indexed notice all
    # carry one).
    try:
        doc = json.loads(value or b"")
    except ValueError:
        return None
    return str(doc["id"]) if isinstance(doc, dict) and doc.get("id") else None


#: How long reading one topic may take before the check gives up (its task has 30 minutes).
READ_SECONDS = 300


def _start_offsets(
    consumer: Any, tps: list[TopicPartition], since: datetime | None
) -> dict[TopicPartition, int]:
    """Where reading starts: the first offset stamped at or after ``since`` (the end when
    there is none), or each partition's beginning without ``since``."""
    if since is None:
        return dict(consumer.beginning_offsets(tps))
    found = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
    ends = consumer.end_offsets(tps)
    return {tp: found[tp].offset if found.get(tp) is not None else ends[tp] for tp in tps}


def topic_ids(
    settings: Settings,
    topic: str,
    older_than: datetime | None = None,
    since: datetime | None = None,
) -> TopicIds:
    """Reads the messages of ``topic`` stamped from ``since`` (default: all) up to its current
    end (no consumer group, no commits).

    Messages produced at or after ``older_than`` are ignored: they may still be in flight.
    """
    out = TopicIds(topic)
    consumer = make_consumer(settings, None, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return out
        consumer.assign(tps)
        for tp, offset in _start_offsets(consumer, tps, since).items():
            consumer.seek(tp, offset)
        ends = consumer.end_offsets(tps)
        cutoff_ms = int(older_than.timestamp() * 1000) if older_than else None
        # Producers may stamp a message older than one before it (their own clocks): the
        # start offset is where the window starts, and each record is judged by its stamp.
        since_ms = int(since.timestamp() * 1000) if since else None
        deadline = time.monotonic() + READ_SECONDS
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"reading {topic} took more than {READ_SECONDS} s; check a shorter window "
                    "(the maintenance DAG's window_hours)"
                )
            for records in consumer.poll(timeout_ms=1000).values():
                for r in records:
                    if r.offset >= ends[TopicPartition(r.topic, r.partition)]:
                        continue
                    if cutoff_ms is not None and r.timestamp >= cutoff_ms:
                        continue
                    if since_ms is not None and r.timestamp < since_ms:
                        continue
                    rid = _record_id(r.key, r.value)
                    if rid:
                        out.ids.add(rid)
                        out.messages += 1
        return out
    finally:
        consumer.close()


def dead_lettered_ids(settings: Settings, since: datetime | None = None) -> set[str]:
    """Ids of articles sitting in the dead-letter topic (their absence is explained)."""
    return topic_ids(settings, settings.topics.dead_letter, since=since).ids


def indexed_ids(es: Elasticsearch, settings: Settings, ids: set[str]) -> set[str]:
    """Which of ``ids`` have a document behind the alias."""
    found: set[str] = set()
    wanted = sorted(ids)
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        resp = es.search(
            index=settings.index.alias,
            query={"ids": {"values": chunk}},
            size=len(chunk),
            source=False,
        )
        found.update(h["_id"] for h in resp["hits"]["hits"])
    return found


@dataclass(frozen=True)
class ConsistencyReport:
    """Counts from the check; ``missing`` lists ids cleaned but not indexed."""

    raw_ids: int
    clean_ids: int
    dead_lettered: int
    indexed: int
    documents: int
    missing: list[str]
    unaccounted_raw: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unaccounted_raw


#: What the daily check reads by default: two days, so consecutive runs overlap.
CHECK_WINDOW = timedelta(days=2)


def check_consistency(
    es: Elasticsearch,
    settings: Settings,
    grace: timedelta = timedelta(minutes=5),
    raise_on_gap: bool = True,
    window: timedelta | None = CHECK_WINDOW,
) -> ConsistencyReport:
    """Compares distinct ids on the raw and clean topics with documents in the index.

    Every id on the clean topic must be indexed, and every id on the raw topic must be either
    on the clean topic or dead-lettered. Messages younger than ``grace`` are not judged (the
    workers may still be on them), nor those older than ``window`` before that (None: the
    whole topics). The window keeps a daily check's work to about a day's messages: reading
    the whole retention of raw pages (a week by default, HTML included) grows with the
    traffic and ran into the read limit. A message is cleaned, indexed or dead-lettered after
    it was produced, so the clean and dead-letter topics are read over the same window.
    Raises ConsistencyError on any gap unless told not to.
    """
    cutoff = datetime.now(UTC) - grace
    since = cutoff - window if window is not None else None
    raw = topic_ids(settings, settings.topics.raw, older_than=cutoff, since=since)
    clean = topic_ids(settings, settings.topics.clean, older_than=cutoff, since=since)
    dead = dead_lettered_ids(settings, since=since)
    es.indices.refresh(index=settings.index.alias)
    present = indexed_ids(es, settings, clean.ids | raw.ids)
    missing = sorted(clean.ids - present - dead)
    unaccounted = sorted(raw.ids - clean.ids - present - dead)
    report = ConsistencyReport(
        raw_ids=len(raw.ids),
        clean_ids=len(clean.ids),
        dead_lettered=len(dead),
        indexed=len(present),
        documents=int(es.count(index=settings.index.alias)["count"]),
        missing=missing,
        unaccounted_raw=unaccounted,
    )
    log.info("consistency: %s", report)
    if raise_on_gap and not report.ok:
        raise ConsistencyError(
            f"{len(missing)} cleaned articles missing from {settings.index.alias} "
            f"(first: {missing[:5]}), {len(unaccounted)} raw articles neither cleaned, indexed "
            f"nor dead-lettered (first: {unaccounted[:5]})"
        )
    return report


# --- dead-letter replay --------------------------------------------------------------------


def replay_dead_letters(settings: Settings) -> dict[str, Any]:
    """Replays the dead-letter topic (consumers.dlq.replay); returns what it did, as JSON."""
    summary = replay(settings)
    return {
        "replayed": summary.replayed,
        "skipped": summary.skipped,
        "given_up": summary.given_up,
        "unrecoverable": summary.unrecoverable,
        "too_large": summary.too_large,
        # Which letters wait for their topic's limit to be raised (each replay tries them).
        "too_large_letters": [t.letter_at for t in summary.too_large_letters],
        "by_topic": dict(summary.by_topic),
    }
