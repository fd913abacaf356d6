"""The dead-letter topic: list what failed and why, and replay it after the cause is fixed.

Replay sends each dead letter's original bytes, with its original key, back to the topic of
the stage that rejected it (links for fetch failures, raw for decode/clean/tag failures,
clean for index failures; a message the index or fetch worker could not decode counts as
that worker's: back to the clean or links topic, selected by `--stage index` or `fetch`).
A consumer group per stage tracks how far that stage's letters were replayed, so a second
replay does not resend the same letters and replaying one stage's leaves the others' waiting.

A replayed message carries how many times it had failed (a Kafka header,
consumers.batches.FAILED_BEFORE_HEADER); if it fails again, its new dead letter says one more
in ``attempts``. Replay gives up on a letter whose message failed ``max_attempts`` times
(5 unless told otherwise): it is skipped and counted, so a poison message cannot go round
dead letter -> replay -> dead letter for as long as someone keeps replaying.

A letter whose message is larger than its target topic accepts now is not sent (sent, the
broker's refusal would fail the producer for good) and not passed either: the stage's group
keeps its offset in its commit metadata (``held_metadata``), and every later replay tries it
first, so once the topic's limit is raised a plain replay sends it. The summary names each
such letter with the size it needs.

The topic keeps every letter, a message that failed again included (it is not compacted):
each letter says when and why that attempt failed, which is what someone fixing the cause
reads, and the cap bounds what one poison message can add (``max_attempts`` letters per
stage it fails at) while the topic's retention bounds the rest. `dlq list` shows one row per
message with its latest letter and how often it failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from kafka import errors as Errors
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata, TopicPartition
from pydantic import ValidationError

from consumers.batches import failed_before_header
from consumers.sinks import KafkaSink, record_bytes, topic_sink
from newsflow.kafka.clients import make_admin, make_consumer, make_producer
from newsflow.settings import Settings
from schemas import DeadLetter, Link, Stage
from schemas.failures import PermanentError, TransientError
from schemas.wire import FrameError, is_frame, split_frame

log = logging.getLogger(__name__)


def replay_stage(letter: DeadLetter, settings: Settings) -> Stage:
    """The stage whose input a dead letter's message is: its own, except that a message the
    index or fetch worker could not even decode (stage ``decode``, read from the clean or
    links topic) is that worker's. Replayed as a decode letter it went to the raw topic: a
    clean-topic message was cleaned there and indexed, an Article could never reach the index
    stage again, and `dlq replay --stage index` did not select it (data review)."""
    if letter.stage == Stage.DECODE:
        if letter.topic == settings.topics.clean:
            return Stage.INDEX
        if letter.topic == settings.topics.links:
            return Stage.FETCH
    return letter.stage


def target_topic(letter: DeadLetter, settings: Settings) -> str:
    """The topic a dead letter is replayed into: the input topic of its replay stage."""
    stage = replay_stage(letter, settings)
    if stage == Stage.INDEX:
        return settings.topics.clean
    if stage == Stage.FETCH:
        return settings.topics.links
    return settings.topics.raw


#: Where a raw article or a link came from, in its JSON (a truncated original is not whole
#: JSON: the fields are looked for in its first bytes).
_ORIGIN = re.compile(rb'"(url|source)"\s*:\s*"((?:[^"\\]|\\.){1,500})"')


def fresh_link(original: bytes) -> bytes:
    """A dead-lettered link as a replay sends it: its tries start again.

    A link carries how often the fetch worker already sent it back (a full batch, a
    robots.txt that was unavailable) and when it may be tried next; replayed as it was, the
    site that has recovered got one try, and a wait long past, before it was dead-lettered
    again. Anything that is not a valid link is sent as it is (its stage says why it failed).
    """
    try:
        link = Link.model_validate_json(original)
    except ValidationError:
        return original
    if link.attempts == 0 and link.not_before is None:
        return original
    return link.model_copy(update={"attempts": 0, "not_before": None}).model_dump_json().encode()


def original_head(original: bytes, limit: int) -> str:
    """The start of a dead letter's original as text, for a person to read: a framed raw
    article (schemas.wire) as its header's fields then its body's first bytes, without the
    frame's binary length; anything else as its first bytes."""
    if is_frame(original):
        try:
            header, body = split_frame(original)
        except FrameError:
            pass  # not a whole frame: its bytes as they are say what is wrong
        else:
            fields = json.dumps(header, ensure_ascii=False)
            return f"{fields} {body[:limit].decode('utf-8', 'replace')}"[:limit]
    return original[:limit].decode("utf-8", "replace")


def origin_of(letter: DeadLetter) -> str | None:
    """The URL or file the failed message was made from, if its original names one."""
    found: dict[bytes, bytes] = {}
    for match in _ORIGIN.finditer(letter.original[:65536]):
        found.setdefault(match.group(1), match.group(2))  # the top level's come first
    value = found.get(b"url") or found.get(b"source")
    if value is None:
        return None
    try:
        text: str = json.loads(b'"' + value + b'"')
    except ValueError:
        return None
    return text


@dataclass(frozen=True)
class Listing:
    """The newest dead letters, and how many the topic holds in all."""

    letters: list[DeadLetter]
    total: int


def newest_dead_letters(settings: Settings, limit: int = 1000) -> Listing:
    """The newest ``limit`` dead letters (no group, nothing committed), each partition's in
    the order they were written.

    `dlq list` read the topic from its beginning and stopped at ``limit``: with more letters
    than that it showed the oldest ones, never the failures of the last hour, and did not say
    that there were more. The newest ``limit`` are among the last ``limit`` of each
    partition, so only those are read.
    """
    consumer = make_consumer(settings, None, consumer_timeout_ms=2000)
    try:
        partitions = consumer.partitions_for_topic(settings.topics.dead_letter) or set()
        tps = [TopicPartition(settings.topics.dead_letter, p) for p in sorted(partitions)]
        if not tps:
            return Listing([], 0)
        consumer.assign(tps)
        begins = consumer.beginning_offsets(tps)
        ends = consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(begins[tp], ends[tp] - limit))
        letters: list[DeadLetter] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            batch = consumer.poll(timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue  # written since the listing started
                    try:
                        letters.append(DeadLetter.model_validate_json(record.value or b""))
                    except ValidationError:
                        log.warning("unreadable dead letter at offset %d", record.offset)
        total = sum(ends[tp] - begins[tp] for tp in tps)
        if len(letters) > limit:
            newest = sorted(range(len(letters)), key=lambda i: letters[i].failed_at)[-limit:]
            letters = [letters[i] for i in sorted(newest)]
        return Listing(letters, total)
    finally:
        consumer.close()


def list_dead_letters(settings: Settings, limit: int = 1000) -> list[DeadLetter]:
    """The newest ``limit`` dead letters (``newest_dead_letters``)."""
    return newest_dead_letters(settings, limit).letters


@dataclass(frozen=True)
class Failure:
    """One message that failed, as `dlq list` shows it: its latest letter and how often."""

    latest: DeadLetter
    times: int


def by_message(letters: list[DeadLetter]) -> list[Failure]:
    """The letters grouped by the message they carry (same original bytes and key), in the
    order of each message's latest failure.

    A replayed letter that fails again is a new letter; the old one stays on the topic. After
    two replays of 2,500 poison messages the topic held 7,500 letters, listed as 7,500
    failures with nothing saying they were the same 2,500 messages failing again.
    """
    groups: dict[tuple[str, bytes | None], list[DeadLetter]] = {}
    for letter in letters:
        digest = letter.original_sha256 or hashlib.sha256(letter.original).hexdigest()
        groups.setdefault((digest, letter.original_key), []).append(letter)
    # A letter's own count, too: the earlier letters of a message may be gone (retention).
    failures = [
        Failure(
            max(group, key=lambda d: d.failed_at),
            max(len(group), *(d.attempts for d in group)),
        )
        for group in groups.values()
    ]
    return sorted(failures, key=lambda f: f.latest.failed_at)


def whole_original(settings: Settings, letter: DeadLetter) -> bytes | None:
    """The full original of a truncated dead letter, read again from where it was consumed.

    None when the topic no longer holds that offset (retention), or holds something else.
    """
    if letter.topic is None or letter.partition is None or letter.offset is None:
        return None
    consumer = make_consumer(settings, None)
    try:
        tp = TopicPartition(letter.topic, letter.partition)
        consumer.assign([tp])
        consumer.seek(tp, letter.offset)
        for _ in range(20):
            batch = consumer.poll(timeout_ms=500, max_records=1)
            for record in batch.get(tp, []):
                value = record.value or b""
                if record.offset != letter.offset:
                    return None  # the offset is gone: retention removed it
                if letter.original_sha256 and (
                    hashlib.sha256(value).hexdigest() != letter.original_sha256
                ):
                    return None
                return value
        return None
    finally:
        consumer.close()


#: How many times a message may fail before replay gives up on it (``replay``'s default).
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class TooLarge:
    """A letter replay could not send: its message is larger than its topic accepts now."""

    #: Where the letter is: the dead-letter topic, partition and offset.
    letter_at: str
    #: The URL or file its message was made from, if it names one.
    origin: str | None
    target: str
    #: What the message needs of the topic's ``max.message.bytes``.
    size: int
    #: What the topic accepts now (or the producer, NEWSFLOW_MAX_INPUT_BYTES, if that is less).
    limit: int


@dataclass
class ReplaySummary:
    replayed: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    #: Letters of other stages than those asked for, already replayed, or unreadable.
    skipped: int = 0
    unrecoverable: int = 0
    #: Letters not replayed because their message already failed ``max_attempts`` times.
    given_up: int = 0
    #: Letters whose message is larger than its topic accepts now; each later replay tries
    #: them again (see ``held_metadata``).
    too_large_letters: list[TooLarge] = field(default_factory=list)

    @property
    def too_large(self) -> int:
        return len(self.too_large_letters)


def replay_group(settings: Settings, stage: Stage) -> str:
    """The consumer group that remembers how far the letters of ``stage`` were replayed."""
    return f"{settings.groups.replay}.{stage.value}"


#: Letters sent between two waits for the broker's acknowledgement (and commits).
_REPLAY_BATCH = 200

#: How a replay group's commit metadata names the letters below its position that were too
#: large to send: ``held:12,40``.
_HELD = "held:"
#: What the metadata may hold: the broker's ``offset.metadata.max.bytes`` is 4096 by default.
_METADATA_BYTES = 4000


def held_metadata(position: int, held: list[int]) -> tuple[int, str]:
    """The position a replay group commits on a partition, and its metadata naming the
    letters below it that were too large to send (``held``), for the next replay to try first.

    A letter too large for its topic used to be passed like a sent one: once its topic's limit
    was raised, no replay sent it again until someone reset the group's offsets by hand. The
    metadata holds a few hundred offsets; past that, the position stays at the first one that
    does not fit, and the next replay reads on from there (sending again, harmlessly, the
    letters after it that were sent: the writes downstream are keyed).
    """
    text = ""
    for offset in sorted(set(held)):
        entry = f"{offset}" if not text else f",{offset}"
        if len(_HELD) + len(text) + len(entry) > _METADATA_BYTES:
            return min(position, offset), _HELD + text
        text += entry
    return position, _HELD + text if text else ""


def held_offsets(metadata: str | None) -> list[int]:
    """The letters a replay group's commit metadata says were held back (``held_metadata``)."""
    if not metadata or not metadata.startswith(_HELD):
        return []
    return [int(part) for part in metadata[len(_HELD) :].split(",") if part.isdigit()]


def replay(
    settings: Settings,
    stages: set[Stage] | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    given_up: bool = False,
) -> ReplaySummary:
    """Republishes dead letters (optionally only some stages') to their stage's input topic.

    A letter whose message has already failed ``max_attempts`` times is not sent again
    (``given_up``) and is passed over like a replayed one. After fixing the cause, replay
    with ``given_up=True``: every message of the stages asked for whose latest letter is at
    the cap goes back once more, wherever the replay positions are (they are not moved).

    How far each stage's letters were replayed is kept per stage, as the committed offsets of
    its own group (``replay_group``): replaying only the index failures leaves the clean
    failures waiting for a later replay instead of moving one shared position past them.
    The letters on the topic when the replay starts are read once, partition by partition, in
    order; each time a batch is acknowledged by the broker, the position reached is committed
    for every stage asked for (never moved back), with the letters held back as too large
    for their topic, which the next replay tries first. A replay cut short resends at most
    its last batch, which the keyed writes downstream make harmless (so would two replays at
    once). Letters that fail again arrive after that snapshot and wait for the next replay.
    """
    run = _Replay(settings, set(stages) if stages else set(Stage), max_attempts)
    try:
        if given_up:
            run.run_given_up()
        else:
            run.run()
    finally:
        run.close()
    log.info("replayed %d dead letters (%s)", run.summary.replayed, dict(run.summary.by_topic))
    return run.summary


class _Replay:
    """One replay: the clients, where each stage got to, and what was sent since the last ack."""

    def __init__(self, settings: Settings, chosen: set[Stage], max_attempts: int) -> None:
        self.settings = settings
        self.chosen = chosen
        self.max_attempts = max_attempts
        self.summary = ReplaySummary()
        self.admin = make_admin(settings)
        self.consumer = make_consumer(settings, None)
        self.producer = make_producer(settings)
        self.sinks: dict[str, KafkaSink] = {}
        # Per stage, the offset its replays reached on each partition.
        self.done: dict[Stage, dict[TopicPartition, int]] = {}
        # Per stage and partition, the letters below that offset too large to send so far.
        self.held: dict[Stage, dict[TopicPartition, list[int]]] = {}

    def close(self) -> None:
        self.producer.close(timeout=10)
        self.consumer.close()
        self.admin.close()

    def run(self) -> None:
        topic = self.settings.topics.dead_letter
        numbers = sorted(self.consumer.partitions_for_topic(topic) or [])
        tps = [TopicPartition(topic, p) for p in numbers]
        if not tps:
            return
        self.done, held = self._replayed_up_to(tps)
        self.held = {stage: {} for stage in self.chosen}
        ends: dict[TopicPartition, int] = self.consumer.end_offsets(tps)
        self._retry_held(held)
        self.consumer.assign(tps)
        for tp in tps:
            self.consumer.seek(tp, min(self.done[stage].get(tp, 0) for stage in self.chosen))
        sent = 0
        while left := [tp for tp in tps if self.consumer.position(tp) < ends[tp]]:
            # Only the partitions with letters left: the others' new letters wait.
            self.consumer.pause(*[tp for tp in tps if tp not in left])
            batch = self.consumer.poll(timeout_ms=1000, max_records=_REPLAY_BATCH)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        self.consumer.seek(tp, ends[tp])  # written during this replay
                        break
                    sent += self._one(tp, record)
            if sent >= _REPLAY_BATCH:
                self._settle(tps)
                sent = 0
        self._settle(tps)

    def run_given_up(self) -> None:
        """Sends back, once, each message whose latest letter reached ``max_attempts``."""
        topic = self.settings.topics.dead_letter
        numbers = sorted(self.consumer.partitions_for_topic(topic) or [])
        tps = [TopicPartition(topic, p) for p in numbers]
        if not tps:
            return
        ends: dict[TopicPartition, int] = self.consumer.end_offsets(tps)
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        latest: dict[tuple[Stage, str, bytes | None], tuple[DeadLetter, str]] = {}
        while any(self.consumer.position(tp) < ends[tp] for tp in tps):
            for tp, records in self.consumer.poll(timeout_ms=1000).items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    try:
                        letter = DeadLetter.model_validate_json(record.value or b"")
                    except ValidationError:
                        continue
                    stage = replay_stage(letter, self.settings)
                    digest = letter.original_sha256 or hashlib.sha256(letter.original).hexdigest()
                    key = (stage, digest, letter.original_key)
                    if key not in latest or latest[key][0].failed_at <= letter.failed_at:
                        latest[key] = (letter, _where(tp, record.offset))
        for (stage, _, _), (letter, where) in latest.items():
            if stage in self.chosen and letter.attempts >= self.max_attempts:
                self._send(letter, where)
        for sink in self.sinks.values():
            sink.flush()

    def _replayed_up_to(
        self, tps: list[TopicPartition]
    ) -> tuple[
        dict[Stage, dict[TopicPartition, int]], dict[Stage, dict[TopicPartition, list[int]]]
    ]:
        """Per stage, the offset its replays reached on each partition (absent: never), and
        the letters below it held back as too large.

        A stage with no position yet starts where the one replay group of earlier versions
        got to, so an upgrade does not resend what that group already replayed.
        """
        legacy = self._committed(self.settings.groups.replay, tps)
        done: dict[Stage, dict[TopicPartition, int]] = {}
        held: dict[Stage, dict[TopicPartition, list[int]]] = {}
        for stage in self.chosen:
            own = self._committed(replay_group(self.settings, stage), tps)
            done[stage] = {tp: m.offset for tp, m in (own or legacy).items()}
            held[stage] = {tp: held_offsets(m.metadata) for tp, m in own.items()}
        return done, held

    def _committed(
        self, group: str, tps: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        offsets = self.admin.list_group_offsets({group: tps}).get(group) or {}
        return {tp: m for tp, m in offsets.items() if m is not None and m.offset >= 0}

    def _retry_held(self, held: dict[Stage, dict[TopicPartition, list[int]]]) -> None:
        """Tries again the letters earlier replays held back as too large for their topic
        (its limit may have been raised since); those still too large stay held."""
        for stage, parts in held.items():
            for tp, offsets in parts.items():
                for offset in offsets:
                    record = self._read_at(tp, offset)
                    if record is None:
                        log.warning(
                            "dead letter at %s, held back as too large, is no longer on its "
                            "topic (retention); not replayed",
                            _where(tp, offset),
                        )
                        self.summary.unrecoverable += 1
                        continue
                    self._one(tp, record, held=stage)

    def _read_at(self, tp: TopicPartition, offset: int) -> ConsumerRecord | None:
        """The dead letter at ``offset`` of ``tp`` (None if retention removed it)."""
        self.consumer.assign([tp])
        self.consumer.seek(tp, offset)
        for _ in range(20):
            for record in self.consumer.poll(timeout_ms=500, max_records=1).get(tp, []):
                return record if record.offset == offset else None
        return None

    def _one(self, tp: TopicPartition, record: ConsumerRecord, held: Stage | None = None) -> int:
        """Sends one dead letter's original back if it is due; 1 if it was sent. ``held``:
        a letter that stage's earlier replays held back, due whatever its position."""
        try:
            letter = DeadLetter.model_validate_json(record.value or b"")
        except ValidationError:
            log.warning(
                "unreadable dead letter at %s[%d]@%d", tp.topic, tp.partition, record.offset
            )
            self.summary.skipped += 1
            return 0
        stage = replay_stage(letter, self.settings)
        if held is not None and stage != held:
            return 0  # not that stage's letter (the metadata was written by someone else)
        if stage not in self.chosen or (
            held is None and record.offset < self.done[stage].get(tp, 0)
        ):
            self.summary.skipped += 1
            return 0
        if letter.attempts >= self.max_attempts:
            log.warning(
                "dead letter for %s[%s]@%s (%s: %s) failed %d times; not replayed again",
                letter.topic,
                letter.partition,
                letter.offset,
                letter.stage.value,
                letter.error_type,
                letter.attempts,
            )
            self.summary.given_up += 1
            return 0
        outcome = self._send(letter, _where(tp, record.offset))
        if outcome == "too_large":
            self.held[stage].setdefault(tp, []).append(record.offset)
        return 1 if outcome == "sent" else 0

    def _send(self, letter: DeadLetter, where: str) -> Literal["sent", "too_large", "lost"]:
        """Sends a letter's whole original back to its stage's topic; "too_large" if the topic
        does not accept it now, "lost" if its original is no longer whole anywhere.
        ``where``: the letter's place on the dead-letter topic, for the report."""
        original = letter.original
        if letter.original_truncated:
            whole = whole_original(self.settings, letter)
            if whole is None:
                log.warning(
                    "dead letter for %s[%s]@%s kept only the first %d of %s bytes, and the "
                    "topic no longer holds the message; not replayed",
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    len(letter.original),
                    letter.original_size,
                )
                self.summary.unrecoverable += 1
                return "lost"
            original = whole
        target = target_topic(letter, self.settings)
        if target not in self.sinks:
            # The topic's own limit: a message over it, sent, fails the producer for good,
            # and the replay ended there, again on every later replay (its position never
            # got past that letter), with the letters behind it never sent.
            self.sinks[target] = topic_sink(self.settings, self.producer, target, Stage.PRODUCE)
        if target == self.settings.topics.links:
            original = fresh_link(original)
        sink = self.sinks[target]
        try:
            # No key stays no key: an empty one sent every such message to one partition.
            sink.add(letter.original_key, original, failed_before_header(letter.attempts))
        except PermanentError as exc:
            log.warning("dead letter at %s not replayed: %s", where, exc.message)
            limit = min(sink.max_message_bytes or 0, self.settings.limits.max_message_bytes)
            size = record_bytes(letter.original_key, original)
            self.summary.too_large_letters.append(
                TooLarge(where, origin_of(letter), target, size, limit)
            )
            return "too_large"
        self.summary.replayed += 1
        self.summary.by_topic[target] += 1
        return "sent"

    def _settle(self, tps: list[TopicPartition]) -> None:
        """Waits for the broker to acknowledge what was sent, then records how far each
        stage asked for got (raises TransientError, committing nothing, if it did not)."""
        for sink in self.sinks.values():
            sink.flush()
        positions = {tp: self.consumer.position(tp) for tp in tps}
        for stage in self.chosen:
            reached: dict[TopicPartition, OffsetAndMetadata] = {}
            for tp, position in positions.items():
                # Never back: a pass that started at another stage's earlier position has not
                # reached this one's yet, and moving it back resent its letters.
                ahead = max(position, self.done[stage].get(tp, 0))
                offset, metadata = held_metadata(ahead, self.held[stage].get(tp, []))
                reached[tp] = OffsetAndMetadata(offset, metadata, -1)
            errors = self.admin.alter_group_offsets(replay_group(self.settings, stage), reached)
            failed = {tp: e for tp, e in errors.items() if e is not Errors.NoError}
            if failed:
                raise TransientError(
                    f"could not record how far the {stage.value} letters were replayed: {failed}"
                )
            for tp, meta in reached.items():
                self.done[stage][tp] = meta.offset


def _where(tp: TopicPartition, offset: int) -> str:
    """A dead letter's place on its topic, as the replay's report names it."""
    return f"{tp.topic}[{tp.partition}]@{offset}"
