"""Sinks: the durable writes a worker makes before it may commit its offsets.

Each sink buffers what the stage produced and, on ``flush``, writes it and waits for the
acknowledgement. Anything not acknowledged stays buffered and is sent again on the next
flush, so a TransientError never loses a record.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from elasticsearch import ApiError, Elasticsearch, TransportError
from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    BrokerResponseError,
    InvalidProducerEpochError,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumberError,
    UnknownProducerIdError,
)
from pydantic_core import to_jsonable_python

from consumers.batches import Headers
from consumers.health import WorkerGaveUp
from newsflow.elastic.hits import Hit
from newsflow.kafka.delivery import Outbox
from newsflow.kafka.topics import message_limit
from newsflow.reading.identity import article_site_domains
from newsflow.settings import Settings
from schemas import AnyStageReason, Article, DeadLetter, IndexedEvent, IndexReason, Stage
from schemas.failures import PermanentError, TransientError

log = logging.getLogger(__name__)


#: Broker answers the idempotent producer recovers from by itself: on Kafka 2.5+ it bumps
#: its epoch and sends on (KIP-360); the records in flight then failed and are sent again.
#: A broker restarted under load answers OutOfOrderSequenceNumber: taken for a refusal for
#: good, it ended a soak's index worker (exit 3) that the next retry would have carried on.
_PRODUCER_RECOVERS = (
    OutOfOrderSequenceNumberError,
    UnknownProducerIdError,
    InvalidProducerEpochError,
)


def refused_for_good(error: KafkaError) -> bool:
    """Whether the broker itself answered a send with an error no retry can fix.

    Only the broker's own answers count: a send that timed out or lost its connection (the
    broker away) is waited out as ever, and so are the producer-state errors the producer
    recovers from (``_PRODUCER_RECOVERS``).
    """
    return (
        isinstance(error, BrokerResponseError)
        and not error.retriable
        and not isinstance(error, _PRODUCER_RECOVERS)
    )


#: What a record batch adds to one record's key and value on the wire (a v2 batch header is
#: 61 bytes, a record's own framing a few more), with room to spare.
RECORD_OVERHEAD_BYTES = 512


def record_bytes(key: bytes | None, value: bytes) -> int:
    """What one message needs of its topic's ``max.message.bytes`` (uncompressed)."""
    return len(key or b"") + len(value) + RECORD_OVERHEAD_BYTES


class KafkaSink:
    """Publishes keyed messages to one topic; ``flush`` returns once the broker acked them all.

    ``max_message_bytes`` is the topic's own limit (newsflow.kafka.topics.message_limit): a
    message over it is refused here, as a PermanentError of that one message. Sent, the
    broker would refuse it with MESSAGE_TOO_LARGE, which kafka-python's idempotent producer
    takes as fatal: that send, every other one in flight and every later one fail, and the
    worker retried the batch as "downstream unavailable" forever.

    ``reread_limit`` reads the topic's limit again; it is asked before a message over the
    limit is refused. The way back for a ``too_large_for_topic`` letter is to raise the limit
    and replay it, and a worker that kept the limit it read at start refused the replayed
    message again until it was restarted. Only a message over the limit pays for the read.
    """

    def __init__(
        self,
        producer: KafkaProducer,
        topic: str,
        stage: Stage,
        max_message_bytes: int | None = None,
        reread_limit: Callable[[], int] | None = None,
    ) -> None:
        self.topic = topic
        self.stage = stage
        self.max_message_bytes = max_message_bytes
        self.reread_limit = reread_limit
        self._outbox: Outbox[tuple[bytes | None, bytes, Headers]] = Outbox(producer, topic)
        # Sent but not acknowledged last time: sent again on the next flush.
        self._retry: list[tuple[bytes | None, bytes, Headers]] = []
        self._bytes = 0

    def add(self, key: bytes | None, value: bytes, headers: Headers | None = None) -> None:
        """Queues one record; ``key`` None lets the producer spread such records over the
        partitions (a replayed message that had no key)."""
        limit = self.max_message_bytes
        if limit is not None and record_bytes(key, value) > limit:
            self._refuse_unless_raised(record_bytes(key, value))
        sent = (key, value, headers or [])
        try:
            self._outbox.send(sent, key, value, sent[2] or None)
        except MessageSizeTooLargeError as exc:
            raise PermanentError(self.stage, AnyStageReason.TOO_LARGE_FOR_TOPIC, str(exc)) from exc
        self._bytes += len(value)

    def _refuse_unless_raised(self, size: int) -> None:
        """Raises PermanentError for a message of ``size`` bytes, unless the topic's limit,
        read again, now lets it through."""
        if self.reread_limit is not None:
            self.max_message_bytes = self.reread_limit()
        limit = self.max_message_bytes
        if limit is not None and size > limit:
            raise PermanentError(
                self.stage,
                AnyStageReason.TOO_LARGE_FOR_TOPIC,
                f"{size} bytes; {self.topic} accepts at most {limit} (max.message.bytes)",
            )

    def pending(self) -> int:
        return len(self._outbox) + len(self._retry)

    def pending_bytes(self) -> int:
        return self._bytes

    def flush(self) -> list[tuple[ConsumerRecord, PermanentError]]:
        retry, self._retry = self._retry, []
        for sent in retry:
            self._outbox.send(sent, sent[0], sent[1], sent[2] or None)
        settled = self._outbox.settle(timeout=60)
        self._retry = [record for record, _ in settled.failed]
        self._bytes = sum(len(value) for _, value, _ in self._retry)
        if settled.failed:
            error = settled.failed[0][1]
            if refused_for_good(error):
                # MESSAGE_TOO_LARGE past the check in add (the topic's limit lowered since
                # the worker started), an authorization error: the idempotent producer is
                # now failed for good, so a retry can never succeed. A restarted worker has
                # a new producer and reads the topic's limit again.
                raise WorkerGaveUp(
                    f"{self.topic} refused {len(settled.failed)} messages for good ({error}); "
                    "the producer cannot send any more"
                )
            raise TransientError(
                f"{len(settled.failed)} messages to {self.topic} not acknowledged: {error}"
            )
        return []


def topic_sink(settings: Settings, producer: KafkaProducer, topic: str, stage: Stage) -> KafkaSink:
    """A KafkaSink bound by ``topic``'s own limit: read now, and again before a message over
    it is refused."""
    return KafkaSink(
        producer,
        topic,
        stage=stage,
        max_message_bytes=message_limit(settings, topic),
        reread_limit=functools.partial(message_limit, settings, topic),
    )


#: Bulk item statuses worth retrying: overload and server-side trouble, not bad documents.
_RETRYABLE = {429, 500, 502, 503, 504}


@contextmanager
def transient_es(what: str) -> Iterator[None]:
    """Turns overload and unreachability into TransientError (the batch is tried again)."""
    try:
        yield
    except ApiError as exc:
        if exc.meta.status in _RETRYABLE:
            raise TransientError(f"{what} refused ({exc.meta.status})") from exc
        raise
    except TransportError as exc:  # connection refused, timeout
        raise TransientError(f"Elasticsearch unreachable: {exc}") from exc


@dataclass(frozen=True)
class _Doc:
    """One article waiting for the bulk request: its id, text hash, kind, record and JSON."""

    id: str
    content_hash: str
    summary_only: bool
    record: ConsumerRecord
    source: bytes


class _Written(NamedTuple):
    """What one bulk request did: documents to send again, documents that already exist
    (the lookup path), and what to announce or dead-letter."""

    retry: list[_Doc]
    existing: list[_Doc]
    announce: list[tuple[str, str]]
    rejected: list[tuple[ConsumerRecord, PermanentError]]


#: Smallest share of a batch sent as a bulk request of its own: below it, one request's own
#: cost in Elasticsearch outweighs what running two at once gains.
MIN_CONCURRENT_DOCS = 50


def split_by_id(
    docs: list[_Doc], parts: int, min_docs: int = MIN_CONCURRENT_DOCS
) -> list[list[_Doc]]:
    """``docs`` in at most ``parts`` groups of at least ``min_docs`` (about), every copy of an
    id in one group and in the batch's order: two writes of one article never race, and the
    later stays the later (what a single request guarantees)."""
    n = max(1, min(parts, len(docs) // min_docs))
    if n == 1:
        return [docs]
    groups: list[list[_Doc]] = [[] for _ in range(n)]
    for doc in docs:
        groups[zlib.crc32(doc.id.encode()) % n].append(doc)
    return [g for g in groups if g]


class _Stored(NamedTuple):
    """What the lookup path needs of an indexed article."""

    content_hash: str
    seq_no: int
    primary_term: int
    summary_only: bool
    #: The story it was in (or had left, not clustered since), if any.
    story: str | None


def document_fields(
    url: str | None,
    source: str | None,
    summary_only: bool,
    published_at: datetime | None,
    ingested_at: datetime | None,
) -> dict[str, str | list[str] | None]:
    """The fields the index adds to an article's message, from the message alone: the index
    worker writes them, and the maintenance reindex writes them into documents indexed
    before a field existed.

    - ``site_domains``: the domains `search --site` finds the article under
      (newsflow.reading.identity.article_site_domains).
    - ``dated_at``: when the article counts as published, for `search --sort newest`,
      ``--since``/``--until`` and Kibana's publication-date view: its publication date, but
      never after it was ingested. A page dated after it was fetched (a wrong time zone, a
      scheduled post's date) listed as the newest of all until that date passed, in every
      newest-first listing; it was there when we read it, so it counts from then. None for
      an undated article, which those count by ``ingested_at`` itself.
    """
    dated = published_at
    if dated is not None and ingested_at is not None:
        dated = min(dated, ingested_at)
    return {
        "site_domains": article_site_domains(url, source, summary_only),
        # Written as the message writes its dates (pydantic's JSON form).
        "dated_at": to_jsonable_python(dated) if dated is not None else None,
    }


def _with_fields(source: bytes, fields: Mapping[str, str | list[str] | None]) -> bytes:
    """The document's JSON (``source``, an Article's JSON object, which has none of
    ``fields``) with ``fields`` set, those that are None left out."""
    head = b"".join(
        json.dumps(name).encode() + b":" + json.dumps(value).encode() + b","
        for name, value in fields.items()
        if value is not None
    )
    return b"{" + head + source[1:]


class ElasticsearchSink:
    """Upserts articles by id in bulk, then announces them on the indexed topic.

    A new article (the common case) is written with ``create``: one bulk request, no lookup.
    Only the ids that already exist (``create`` answers 409: a replay, a re-ingest, a
    corrected story, a page after its feed summary) are looked up and written again in a
    second request:

    - same text (same ``content_hash``): ``update`` with ``doc_as_upsert``, so the article
      keeps the fields the enrichment DAG added (story id, embedding) instead of being
      overwritten by a bare copy;
    - changed text (a corrected story under the same URL, a page replacing its summary):
      written whole with ``index``, dropping what the DAG derived from the old text, so the
      DAG enriches it again rather than serving the old text's vector and key terms. That
      write is conditional on the version read, so a concurrent change makes it retry, not
      clobber;
    - a feed entry's summary whose page is indexed (or comes earlier in the batch) is dropped:
      a summary stands in for its page until the page arrives, never after.

    (A scripted upsert would do this in one request, but the local stack's Elasticsearch
    build has no scripting module.) Documents travel as the JSON bytes the model dumped:
    nothing is parsed back into dicts to be serialized again.

    A large batch's creates go as up to ``concurrency`` bulk requests at once (split by id,
    ``split_by_id``): Elasticsearch indexes one request of a shard on one write thread, so a
    backlog bulk-indexed one request at a time left the second core mostly idle (3,000
    articles: 257-303 articles/s one request at a time, 373-498 with two; docs/benchmarks.md).
    """

    def __init__(
        self,
        es: Elasticsearch,
        alias: str,
        announcer: KafkaSink | None = None,
        concurrency: int = 1,
    ) -> None:
        self.es = es
        self.alias = alias
        self.announcer = announcer
        self.concurrency = max(1, concurrency)
        self._docs: list[_Doc] = []
        # Known to be in the index already (create answered 409): they take the lookup path.
        self._existing: list[_Doc] = []
        self._bytes = 0
        self._rejected: list[tuple[ConsumerRecord, PermanentError]] = []
        self._announce: list[tuple[str, str]] = []

    def add(self, article: Article, record: ConsumerRecord) -> None:
        # The index's fields, not the Article message's: an article written by an older clean
        # worker (still on the clean topic) gets them as well.
        fields = document_fields(
            article.url,
            article.source,
            article.summary_only,
            article.published_at,
            article.ingested_at,
        )
        source = _with_fields(article.model_dump_json().encode(), fields)
        doc = _Doc(article.id, article.content_hash, article.summary_only, record, source)
        self._docs.append(doc)
        self._bytes += len(doc.source)

    def detach(self) -> ElasticsearchSink:
        """The documents added so far as a sink of their own, to flush while this one fills.

        Both share the client and the announcer: only the detached sink's flush uses the
        announcer, and the worker loop flushes one batch at a time.
        """
        batch = ElasticsearchSink(self.es, self.alias, self.announcer, self.concurrency)
        batch._docs, self._docs = self._docs, []
        batch._existing, self._existing = self._existing, []
        batch._bytes, self._bytes = self._bytes, 0
        batch._rejected, self._rejected = self._rejected, []
        batch._announce, self._announce = self._announce, []
        return batch

    def pending(self) -> int:
        queued = self.announcer.pending() if self.announcer is not None else 0
        return len(self._docs) + len(self._existing) + len(self._announce) + queued

    def pending_bytes(self) -> int:
        return self._bytes

    def _stored(self, docs: list[_Doc]) -> dict[str, _Stored]:
        """What the index holds of those ids that are in it."""
        ids = list({d.id for d in docs})
        with transient_es("lookup"):
            response = self.es.mget(
                index=self.alias,
                ids=ids,
                source_includes=["content_hash", "summary_only", "story_id", "story_previous"],
            )
        stored: dict[str, _Stored] = {}
        for doc in map(Hit.of, response["docs"]):
            src = doc.source
            content_hash, version = src.content_hash, doc.version
            if doc.found and content_hash is not None and version is not None:
                story = src.story_id or src.story_previous
                stored[doc.id] = _Stored(content_hash, *version, bool(src.summary_only), story)
        return stored

    def _operation(
        self, doc: _Doc, stored: dict[str, _Stored] | None, now: str
    ) -> tuple[str, dict[str, Any], bytes]:
        """The bulk action for one document, its target and its body line (JSON bytes).

        Every write stamps ``updated_at`` (``now``): a reindex copies again what was written
        while it copied, and ``ingested_at`` (the cleaner's clock) is older than the write by
        however long the article waited on the clean topic.
        """
        target: dict[str, Any] = {"_index": self.alias, "_id": doc.id}
        old = None if stored is None else stored.get(doc.id)
        if old is None:
            # First attempt, or gone again since the conflict: create, never overwrite.
            return "create", target, _with_fields(doc.source, {"updated_at": now})
        if old.content_hash != doc.content_hash:
            # story_previous: the story the old text was in, so that clustering fixes the
            # size and canonical member of the copies this text leaves behind.
            fields = {"updated_at": now, "story_previous": old.story}
            return (
                "index",
                {**target, "if_seq_no": old.seq_no, "if_primary_term": old.primary_term},
                _with_fields(doc.source, fields),
            )
        body = _with_fields(doc.source, {"updated_at": now})
        return "update", target, b'{"doc":' + body + b',"doc_as_upsert":true}'

    def _write(self, docs: list[_Doc], stored: dict[str, _Stored] | None) -> _Written:
        """One bulk request and what it did (it changes nothing of the sink's own: the
        creates of one batch may run in several threads at once).

        ``stored`` is None on the first attempt (every document is created); on the lookup
        path it holds what the index had, and summaries of indexed pages are left out.
        """
        pages = None if stored is None else {i for i, old in stored.items() if not old.summary_only}
        now = datetime.now(UTC).isoformat()
        written: list[_Doc] = []
        actions: list[str] = []
        operations: list[bytes] = []
        for doc in docs:
            if pages is not None:
                if doc.summary_only and doc.id in pages:
                    continue
                if not doc.summary_only:
                    pages.add(doc.id)
            action, target, body = self._operation(doc, stored, now)
            written.append(doc)
            actions.append(action)
            operations += [json.dumps({action: target}).encode(), body]
        out = _Written([], [], [], [])
        if not operations:
            return out
        with transient_es("bulk request"):
            # The client's NDJSON serializer sends bytes lines as they are (its typing only
            # names dicts).
            response = self.es.bulk(operations=cast(list[Any], operations))
        for item, doc, action in zip(response["items"], written, actions, strict=True):
            result = item.get(action, {})
            status = int(result.get("status", 500))
            if status < 300:
                out.announce.append((doc.id, str(result.get("_index", self.alias))))
            elif status == 409 and action == "create" and stored is None:
                out.existing.append(doc)
            elif status in _RETRYABLE or (status == 409 and action != "update"):
                # 409 on a conditional write or a create: the document changed since it was
                # read (or appeared); the next attempt reads it again.
                out.retry.append(doc)
            else:
                err = result.get("error", {})
                detail = f"{err.get('type', 'rejected')}: {err.get('reason', err)}"
                rejected = PermanentError(Stage.INDEX, IndexReason.REJECTED, detail)
                out.rejected.append((doc.record, rejected))
        return out

    def _create(self, docs: list[_Doc]) -> None:
        """The first attempt at ``docs``: creates, in up to ``concurrency`` requests at once.

        What each request did is kept before any failure is raised: a request that failed
        leaves its documents to send again, the others' are done.
        """
        groups = split_by_id(docs, self.concurrency)
        outcomes: list[_Written | BaseException | None] = [None] * len(groups)

        def write(i: int) -> None:
            try:
                outcomes[i] = self._write(groups[i], None)
            except Exception as exc:  # kept, raised once every request has answered
                outcomes[i] = exc

        # Daemon threads, one a request beyond the first (which runs here): a worker told to
        # stop while Elasticsearch hangs must not wait for them at exit (an executor's threads
        # are joined then).
        threads = [
            threading.Thread(target=write, args=(i,), daemon=True) for i in range(1, len(groups))
        ]
        for t in threads:
            t.start()
        write(0)
        for t in threads:
            t.join()
        self._docs = []
        failure: BaseException | None = None
        for group, outcome in zip(groups, outcomes, strict=True):
            if outcome is None or isinstance(outcome, BaseException):
                self._docs += group
                failure = failure or outcome or TransientError("a bulk request gave no answer")
                continue
            self._docs += outcome.retry
            self._existing += outcome.existing
            self._announce += outcome.announce
            self._rejected += outcome.rejected
        self._count_bytes()
        if failure is not None:
            raise failure

    def _bulk(self) -> None:
        """Writes what is left of the batch; what was written stays written.

        Each step keeps its progress before the next may fail: documents created are done,
        and those found to exist take only the lookup path on the next attempt. A lookup
        refused with 429 used to throw the whole batch back, so every retry sent it again as
        creates (all 409 by then) before the lookup: a whole batch more of load on a node
        already saying it has too much, and three requests in a row to succeed instead of two.
        """
        if self._docs:
            self._create(self._docs)
        if self._existing:
            done = self._write(self._existing, self._stored(self._existing))
            self._docs, self._existing = self._docs + done.retry, []
            self._announce += done.announce
            self._rejected += done.rejected
            self._count_bytes()
        if self._docs:
            raise TransientError(f"{len(self._docs)} bulk items refused for now (409/429/5xx)")

    def _count_bytes(self) -> None:
        self._bytes = sum(len(d.source) for d in self._docs + self._existing)

    def flush(self) -> list[tuple[ConsumerRecord, PermanentError]]:
        if self._docs or self._existing:
            self._bulk()
        if self.announcer is not None:
            now = datetime.now(UTC)
            for article_id, index in self._announce:
                event = IndexedEvent(id=article_id, index=index, indexed_at=now)
                self.announcer.add(article_id.encode(), event.model_dump_json().encode())
            self._announce = []
            # Announcements not acknowledged stay queued in the announcer for the next try.
            self.announcer.flush()
        self._announce = []
        rejected, self._rejected = self._rejected, []
        return rejected


#: What a truncated dead letter keeps of its original: enough to see what it was.
DEAD_LETTER_HEAD_BYTES = 65_536


def fit_dead_letter(letter: DeadLetter, max_message_bytes: int) -> DeadLetter:
    """The dead letter itself, or a copy with a truncated original if it would not fit.

    The original travels as base64 inside JSON (4/3 of its size); a raw message close to the
    input limit would make a dead letter the broker refuses, and a worker that cannot write
    its dead letter can neither commit nor move on. The truncated letter keeps the original's
    size and hash, and replay reads the whole message from its topic, partition and offset.
    """
    size = len(letter.original)
    stamped = letter.model_copy(
        update={
            "original_size": size,
            "original_sha256": hashlib.sha256(letter.original).hexdigest(),
        }
    )
    overhead = 16_384 + len(letter.error_message) * 6 + len(letter.original_key or b"") * 2
    if size * 4 // 3 + overhead <= max_message_bytes:
        return stamped
    return stamped.model_copy(
        update={"original": letter.original[:DEAD_LETTER_HEAD_BYTES], "original_truncated": True}
    )


class DeadLetterWriter:
    """Publishes dead letters, each within the broker's message limit, and waits for the acks."""

    def __init__(self, producer: KafkaProducer, topic: str, max_message_bytes: int) -> None:
        self.topic = topic
        self.max_message_bytes = max_message_bytes
        self._outbox: Outbox[DeadLetter] = Outbox(producer, topic)

    def write(self, letters: list[DeadLetter]) -> None:
        """Returns once every letter is acknowledged; raises TransientError otherwise."""
        for letter in letters:
            fitted = fit_dead_letter(letter, self.max_message_bytes)
            if fitted.original_truncated:
                log.warning(
                    "dead letter for %s[%s]@%s: original of %d bytes kept as its first %d "
                    "(replay reads it again from that offset)",
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    fitted.original_size,
                    DEAD_LETTER_HEAD_BYTES,
                )
            try:
                self._outbox.send(fitted, letter.original_key, fitted.model_dump_json().encode())
            except KafkaError as exc:  # refused at once (e.g. the broker is away)
                self._outbox.settle(timeout=0)
                raise TransientError(f"dead-letter topic not accepting: {exc}") from exc
        settled = self._outbox.settle(timeout=30)
        if settled.failed:
            # The whole batch is written again on the retry: a letter twice beats none.
            error = settled.failed[0][1]
            if refused_for_good(error):  # as in KafkaSink.flush: the producer is failed now
                raise WorkerGaveUp(
                    f"{self.topic} refused {len(settled.failed)} dead letters for good "
                    f"({error}); the producer cannot send any more"
                )
            raise TransientError(f"dead-letter topic not acknowledging: {error}") from error
